"""Rotating ephemeral badge identifiers (in the spirit of Eddystone-EID).

A badge holds a 16-byte identity key shared only with the platform. In each
rotation window it broadcasts ``eid = HMAC-SHA256(key, "campus-eid-v1" ||
window)[:8]``, where ``window = floor(unix_seconds / rotation_s)``. Without the
key, two windows' identifiers are unrelated random-looking values, so a
stranger's phone cannot follow a badge; the platform, holding the key,
precomputes the identifiers of the current and adjacent windows and resolves
them with a dictionary look-up.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["BADGE_KEY_BYTES", "DEFAULT_ROTATION_S", "EID_BYTES", "eid", "window_index"]

BADGE_KEY_BYTES: Final = 16
EID_BYTES: Final = 8
# Five minutes: long enough that a gateway's 1-2 s windows rarely straddle a
# rotation, short enough that a passer-by can link at most five minutes.
DEFAULT_ROTATION_S: Final = 300


def window_index(unix_s: float, rotation_s: int) -> int:
    return int(unix_s // rotation_s)


def eid(badge_key: bytes, window: int) -> bytes:
    """The identifier a badge broadcasts during rotation window ``window``."""
    if len(badge_key) != BADGE_KEY_BYTES:
        raise ValueError(f"badge key must be {BADGE_KEY_BYTES} bytes")
    return hmac.new(badge_key, b"campus-eid-v1" + window.to_bytes(8, "big"), hashlib.sha256).digest()[
        :EID_BYTES
    ]
