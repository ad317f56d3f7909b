"""Zones with keyword defaults for the zones unit tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import shapely

from zones.models import ScheduleRule, Zone, ZoneKind

EXAMPLE_FILE = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "zones.geojson"


def example_collection() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE_FILE.read_text(encoding="utf-8"))
    return loaded


def box_zone(
    zone_id: str,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    *,
    kind: ZoneKind = ZoneKind.CLASSROOM,
    floor: int | None = 0,
    parent: str | None = None,
    schedule: tuple[ScheduleRule, ...] = (),
) -> Zone:
    return Zone(
        zone_id=zone_id,
        name=f"Zone {zone_id}",
        kind=kind,
        geometry=shapely.box(x0, y0, x1, y1),
        floor=floor,
        parent_id=parent,
        schedule=schedule,
    )


def feature(feature_id: str | int | None = "r1", /, **properties: Any) -> dict[str, Any]:
    """A valid feature (a 4 x 3 m room on floor 0) with ``properties`` overriding the defaults."""
    props: dict[str, Any] = {"name": "Room 1", "kind": "classroom", "floor": 0}
    props.update(properties)
    out: dict[str, Any] = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 3], [0, 3], [0, 0]]]},
        "properties": props,
    }
    if feature_id is not None:
        out["id"] = feature_id
    return out


def collection(*features: dict[str, Any], **campus: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if campus:
        out["campus"] = campus
    return out
