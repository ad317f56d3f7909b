"""The simulated campus: students, timetables, radio and faulty gateways driving the real platform.

Public surface (see docs/SIMULATOR.md):

- ``firmware_sim.world.build_world`` / ``Stepper``: one deterministic school day, window by window.
- ``firmware_sim.service.run_simulation(settings, RunConfig(...)) -> RunSummary``: ``campus sim run``.
- ``firmware_sim.demo.start_demo(settings, students=, seed=, stop=)``: the live demo of ``campus up``.
- ``firmware_sim.truth``: ``read_truth``, ``zone_at``, ``sample`` (ground truth for accuracy checks).
- ``firmware_sim.scenario.Scenario``: gateway outages, clock skews, restarts, a fire drill.
- ``firmware_sim.campus.build_campus``, ``firmware_sim.geojson.to_geojson``: the campus and its zones file.

Errors: ``firmware_sim.errors`` (``SimError`` and subclasses).
"""
