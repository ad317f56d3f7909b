"""Keyed pseudonyms and keyed hashes of static identifiers.

``student_key`` is what presence and transitions store instead of a student
id: an HMAC under the deployment's pseudonym key, so it cannot be recomputed
from a list of student ids without that key.

``static_badge_hash`` is what a gateway sends instead of an RFID card number
or a static BLE identifier: an HMAC under the site's badge-hash key (derived
from the master key and handed to the site's gateways at enrolment).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["STATIC_HASH_BYTES", "site_badge_hash_key", "static_badge_hash", "student_key"]

STATIC_HASH_BYTES: Final = 16


def student_key(pseudonym_key: bytes, student_id: UUID) -> int:
    """The signed 64-bit keyed pseudonym of a student."""
    digest = hmac.new(pseudonym_key, b"campus-student-v1" + student_id.bytes, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def site_badge_hash_key(master_key: bytes, site_id: str) -> bytes:
    """The 32-byte key a site's gateways use to hash static badge identifiers."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"campus-badge-hash-v1:" + site_id.encode()
    )
    return hkdf.derive(master_key)


def static_badge_hash(hash_key: bytes, *, kind: str, identifier: str) -> bytes:
    """Keyed hash of a static identifier (card number, iBeacon or Eddystone-UID id).

    ``identifier`` is normalised (upper-case, no separators) so that the same
    card read by two reader models hashes the same.
    """
    normalised = "".join(ch for ch in identifier.upper() if ch.isalnum())
    message = kind.encode() + b"\x00" + normalised.encode()
    return hmac.new(hash_key, message, hashlib.sha256).digest()[:STATIC_HASH_BYTES]
