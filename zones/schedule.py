"""When a student may be in a zone: schedules and the site's default rules. Pure; the time is passed in.

A zone's rules are read in this order, for a student who belongs to some
groups (a year group and a class, for example ``{"Y7", "7B"}``):

1. a rule that applies now (its day, its time window, one of the student's
   groups or no groups at all) and says ``restricted`` restricts the zone:
   restrictions win over permissions;
2. otherwise a rule that applies now and allows the zone allows it;
3. otherwise a zone with any allowing rule is restricted: listing when a zone
   is open means it is closed at other times and to other groups;
4. otherwise the zone's kind decides: ``restricted`` and ``off_site`` zones
   are restricted, every other kind is allowed.

:class:`AccessPolicy` applies this to a zone and each of its ancestors, so a
room inside a closed building is closed too. Times are the site's local wall
clock (:func:`local_time` converts an aware instant with the site's timezone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from zones.models import Zone, ZoneKind

__all__ = [
    "RESTRICTED_BY_DEFAULT",
    "AccessDecision",
    "AccessPolicy",
    "decide",
    "local_time",
    "restricted_for",
]

# Kinds a student should not be in unless a schedule rule allows it.
RESTRICTED_BY_DEFAULT: Final = frozenset({ZoneKind.RESTRICTED, ZoneKind.OFF_SITE})


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """Whether the zone is restricted, which zone's rules decided (itself or an ancestor), and why."""

    restricted: bool
    zone_id: str
    reason: str


def local_time(at: datetime, timezone: str) -> datetime:
    """The site's wall-clock time at the aware instant ``at`` (``timezone`` as in ``sites.timezone``)."""
    if at.tzinfo is None:
        raise ValueError("local_time needs an aware datetime")
    return at.astimezone(ZoneInfo(timezone))


def _as_groups(group: str | Iterable[str]) -> frozenset[str]:
    return frozenset((group,)) if isinstance(group, str) else frozenset(group)


def decide(zone: Zone, group: str | Iterable[str], at_local: datetime) -> AccessDecision:
    """This zone's own rules (not its ancestors') for a student of ``group`` (one group or several)."""
    groups = _as_groups(group)
    weekday, minute = at_local.weekday(), at_local.hour * 60 + at_local.minute
    applying = [
        (position, rule)
        for position, rule in enumerate(zone.schedule, start=1)
        if rule.applies(weekday=weekday, minute=minute, groups=groups)
    ]
    for position, rule in applying:
        if rule.restricted:
            return AccessDecision(True, zone.zone_id, f"restricted by schedule rule {position}")
    if applying:
        return AccessDecision(False, zone.zone_id, f"allowed by schedule rule {applying[0][0]}")
    if any(not rule.restricted for rule in zone.schedule):
        return AccessDecision(True, zone.zone_id, "outside the times and groups its schedule allows")
    if zone.kind in RESTRICTED_BY_DEFAULT:
        return AccessDecision(True, zone.zone_id, f"a {zone.kind} zone")
    return AccessDecision(False, zone.zone_id, "no rule restricts it")


def restricted_for(zone: Zone, group: str | Iterable[str], at_local: datetime) -> bool:
    """Whether a student of ``group`` should not be in ``zone`` (its own rules) at local time ``at_local``."""
    return decide(zone, group, at_local).restricted


class AccessPolicy:
    """A site's zones with their hierarchy: may a student of these groups be in zone Z at local time T?"""

    __slots__ = ("_zones",)

    def __init__(self, zones: Iterable[Zone]) -> None:
        self._zones = {zone.zone_id: zone for zone in zones}

    def decide(self, zone_id: str, group: str | Iterable[str], at_local: datetime) -> AccessDecision:
        """The zone's decision, or the first restricting ancestor's (the nearest one).

        An unknown zone id (for example one removed by a later import) is not
        restricted: nothing is known against it.
        """
        groups = _as_groups(group)
        zone = self._zones.get(zone_id)
        if zone is None:
            return AccessDecision(False, zone_id, "unknown zone")
        own = decide(zone, groups, at_local)
        seen = {zone_id}
        current = zone
        while not own.restricted and current.parent_id is not None and current.parent_id not in seen:
            parent = self._zones.get(current.parent_id)
            if parent is None:
                break
            seen.add(parent.zone_id)
            inherited = decide(parent, groups, at_local)
            if inherited.restricted:
                return AccessDecision(True, parent.zone_id, f"inside {parent.zone_id}: {inherited.reason}")
            current = parent
        return own

    def restricted(self, zone_id: str, group: str | Iterable[str], at_local: datetime) -> bool:
        return self.decide(zone_id, group, at_local).restricted

    def may_be_in(self, zone_id: str, group: str | Iterable[str], at_local: datetime) -> bool:
        """The alerts question: may a student of ``group`` be in ``zone_id`` at ``at_local``?"""
        return not self.restricted(zone_id, group, at_local)
