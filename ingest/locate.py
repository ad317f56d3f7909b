"""Turning resolved sightings into presence rows.

This first locator places a student in the zone of the reader that heard
them, one row per sighting, with a confidence from the signal strength. It
is the foundation's slice; the position estimator with hysteresis (see
``docs/ROADMAP.md``) replaces it without changing ingest's flow.
"""

from __future__ import annotations

from datetime import UTC, datetime

from campus.wire import Sighting, SightingKind
from ingest.repository import GatewayPlacement, PresenceRow

__all__ = ["rssi_confidence", "sighting_row"]

# RSSI at or above this is "in the same room as the reader" for a typical
# badge at 0 dBm; each 10 dB below it halves the confidence.
_STRONG_RSSI = -60.0


def rssi_confidence(rssi: int | None) -> float:
    if rssi is None:
        return 0.5
    return max(0.01, min(1.0, float(0.5 ** ((_STRONG_RSSI - rssi) / 10.0))))


def sighting_row(
    sighting: Sighting, *, student_key: int, site_id: str, gateway_id: str, placement: GatewayPlacement | None
) -> PresenceRow:
    is_tap = sighting.kind is SightingKind.RFID
    return PresenceRow(
        time=datetime.fromtimestamp(sighting.last_ms / 1000, tz=UTC),
        site_id=site_id,
        student_key=student_key,
        zone_id=placement.zone_id if placement else None,
        source="rfid" if is_tap else "ble",
        confidence=1.0 if is_tap else rssi_confidence(sighting.rssi_max),
        gateway_id=gateway_id,
    )
