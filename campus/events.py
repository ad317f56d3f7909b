"""Events published by services after their transaction commits.

``campus/v1/{site}/events/presence`` carries :class:`PresenceEvents`: the
zone changes of one ingest commit. Students appear only by their keyed
pseudonym; consumers (attendance, alerts) join it to what they may see.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

import msgspec

__all__ = ["PresenceEvent", "PresenceEventKind", "PresenceEvents", "decode_presence_events", "encode"]


class PresenceEventKind(StrEnum):
    ZONE_CHANGED = "presence.zone_changed"


class PresenceEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    event: PresenceEventKind
    student_key: int
    from_zone: str | None
    to_zone: str | None  # None: whereabouts unknown (evidence too weak or too old)
    at_ms: int
    confidence: float


class PresenceEvents(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    v: Literal[1]
    site: str
    events: list[PresenceEvent]


_decoder = msgspec.json.Decoder(PresenceEvents)
_encoder = msgspec.json.Encoder()


def encode(message: PresenceEvents) -> bytes:
    return _encoder.encode(message)


def decode_presence_events(payload: bytes) -> PresenceEvents:
    return _decoder.decode(payload)
