"""JSON Schemas of the wire messages, generated from the decoders in :mod:`campus.wire`.

The committed files under ``campus/schemas/`` are what a third-party gateway
validates against; ``tests/unit/test_protocol.py`` fails if they drift from
the decoders. Regenerate with ``python -m campus.schemas``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from campus import wire

__all__ = ["SCHEMAS", "generate", "write"]

_DIR = Path(__file__).parent
SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "sighting-batch.v1.json": wire.SightingBatch,
    "gateway-status.v1.json": wire.GatewayStatus,
    "ack.v1.json": wire.Ack,
}


def generate() -> dict[str, dict[str, Any]]:
    out = {}
    for filename, struct in SCHEMAS.items():
        schema = msgspec.json.schema(struct)
        out[filename] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://campus-presence.invalid/schemas/{filename}",
            **schema,
        }
    return out


def write() -> None:
    for filename, schema in generate().items():
        (_DIR / filename).write_text(json.dumps(schema, indent=2) + "\n")
