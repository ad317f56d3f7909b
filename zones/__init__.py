"""Zones: a site's geofences, the file they come in, and which zone a position is in.

- ``models``: ``Zone``, ``ZoneKind``, ``ScheduleRule``, ``Georeference``, ``ZoneSet``, ``Problem``
- ``geojson`` (pure): the zones file (docs/ZONES.md) to a ``ZoneSet`` and back
- ``geometry`` (pure): ``ZoneIndex`` (vectorised position -> most specific zone) and ``check``
- ``schedule`` (pure): may a student of a group be in a zone at a local time?
- ``service``: import, export and loading from the database; ``repository``: its SQL
- ``errors``: ``ZoneError``, ``ZoneFileError``, ``UnknownSiteError``
"""
