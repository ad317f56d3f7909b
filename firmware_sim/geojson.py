"""The simulated campus as a zones file (the GeoJSON format of docs/ZONES.md). Pure."""

from __future__ import annotations

from typing import Any

from firmware_sim.models import Campus, ScheduleRule

__all__ = ["to_geojson"]


def _rule(rule: ScheduleRule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "days": list(rule.days),
        "from": rule.start,
        "to": rule.end,
        "restricted": rule.restricted,
    }
    if rule.groups:
        out["groups"] = list(rule.groups)
    return out


def to_geojson(campus: Campus, *, site_id: str) -> dict[str, Any]:
    """The campus as a zones file (docs/ZONES.md format): what `campus zones import` reads."""
    features = []
    for z in campus.zones:
        rings = [z.rect.ring()] + ([z.hole.ring()[::-1]] if z.hole is not None else [])
        props: dict[str, Any] = {"name": z.name, "kind": z.kind, "floor": z.floor}
        if z.building is not None:
            props["building"] = z.building
        if z.capacity is not None:
            props["capacity"] = z.capacity
        if z.parent is not None:
            props["parent"] = z.parent
        if z.schedule:
            props["schedule"] = [_rule(r) for r in z.schedule]
        features.append(
            {
                "type": "Feature",
                "id": z.zone_id,
                "geometry": {"type": "Polygon", "coordinates": rings},
                "properties": props,
            }
        )
    return {
        "type": "FeatureCollection",
        "campus": {"version": 1, "site": site_id, "units": "m"},
        "features": features,
    }
