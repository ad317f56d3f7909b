"""MQTT topic names, versioned under ``campus/v1``.

| topic | publisher | QoS | retained |
| --- | --- | --- | --- |
| ``campus/v1/{site}/gateways/{gateway}/sightings`` | gateway | 1 | no |
| ``campus/v1/{site}/gateways/{gateway}/status`` | gateway (and its last will) | 1 | yes |
| ``campus/v1/{site}/gateways/{gateway}/ack`` | ingest | 1 | no |
| ``campus/v1/{site}/events/presence`` | ingest, after commit | 1 | no |
| ``campus/v1/{site}/alerts/{kind}`` | alerts, privacy | 1 | no |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "PREFIX",
    "GatewayTopic",
    "ack",
    "alerts",
    "parse_gateway_topic",
    "presence_events",
    "shared",
    "sightings",
    "sightings_filter",
    "status",
    "status_filter",
]

PREFIX = "campus/v1"
_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_GATEWAY_TOPIC = re.compile(
    rf"^{PREFIX}/(?P<site>{_ID})/gateways/(?P<gateway>{_ID})/(?P<kind>sightings|status|ack)$"
)


@dataclass(frozen=True, slots=True)
class GatewayTopic:
    site: str
    gateway: str
    kind: str


def sightings(site: str, gateway: str) -> str:
    return f"{PREFIX}/{site}/gateways/{gateway}/sightings"


def status(site: str, gateway: str) -> str:
    return f"{PREFIX}/{site}/gateways/{gateway}/status"


def ack(site: str, gateway: str) -> str:
    return f"{PREFIX}/{site}/gateways/{gateway}/ack"


def presence_events(site: str) -> str:
    return f"{PREFIX}/{site}/events/presence"


def alerts(site: str, kind: str) -> str:
    return f"{PREFIX}/{site}/alerts/{kind}"


def sightings_filter(site: str) -> str:
    return f"{PREFIX}/{site}/gateways/+/sightings"


def status_filter(site: str) -> str:
    return f"{PREFIX}/{site}/gateways/+/status"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: members of ``group`` split the messages."""
    return f"$share/{group}/{topic_filter}"


def parse_gateway_topic(topic: str) -> GatewayTopic | None:
    """Split a gateway topic into site, gateway and kind; ``None`` if it is not one."""
    match = _GATEWAY_TOPIC.match(topic)
    if match is None:
        return None
    return GatewayTopic(site=match["site"], gateway=match["gateway"], kind=match["kind"])
