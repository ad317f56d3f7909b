"""Identifiers of the simulated hardware, derived from the seed. Pure.

Gateway signing keys and RFID card numbers are derived from (site, seed,
name) with SHA-256, so a re-run with the same seed provisions the same
gateways and cards and finds its roster again (cards are how a simulated
student is recognised in the database: see ``provision``). Anyone who knows
the seed can compute them: acceptable for a simulation, never for real
hardware. Badge keys are NOT derived: they are made by
``privacy.enrolment`` as for a real school (random, stored wrapped).
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["card_number", "gateway_id", "gateway_seed"]

_DOMAIN: Final = b"campus-sim-v1"


def _derive(kind: str, site_id: str, seed: int, name: str) -> bytes:
    message = b"\x00".join((_DOMAIN, kind.encode(), site_id.encode(), str(seed).encode(), name.encode()))
    return hashlib.sha256(message).digest()


def gateway_seed(site_id: str, seed: int, reader_id: str) -> bytes:
    """The 32-byte Ed25519 private key seed of a simulated reader's gateway."""
    return _derive("gateway", site_id, seed, reader_id)


def card_number(site_id: str, seed: int, student: int) -> str:
    """A simulated student's RFID card: 10 hex digits, as 125 kHz EM4100 desk readers print them."""
    return _derive("card", site_id, seed, str(student))[:5].hex().upper()


def gateway_id(site_id: str, reader_id: str) -> str:
    """Gateway ids are global (the gateways table's key), so a simulated reader's carries its site."""
    return f"{site_id}.{reader_id}"
