"""The simulator's exceptions.

SimError                  anything the simulator refuses to do, with a readable reason
├── ScenarioError         a fault or drill that names an unknown reader or impossible times
├── NotSimulatedSiteError the site exists and was not created by the simulator
└── IngestBusyError       another ingest worker holds the site but does not serve it live
"""

from __future__ import annotations

__all__ = ["IngestBusyError", "NotSimulatedSiteError", "ScenarioError", "SimError"]


class SimError(Exception):
    """The simulator cannot do what was asked; the message says why in one sentence."""


class ScenarioError(SimError):
    """A scenario (faults, fire drill) that cannot happen on this campus or in this run."""


class NotSimulatedSiteError(SimError):
    """The site is a real one (not created by the simulator): the simulator never touches it."""


class IngestBusyError(SimError):
    """Another ingest worker holds the site's lease."""
