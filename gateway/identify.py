"""Which adverts are badges, and what leaves the gateway for each. Pure.

- The project's badge frame: its 8-byte rotating id, as heard (``ble-eid``).
- iBeacon: a keyed hash of ``uuid:major:minor`` (``ble-ibeacon``).
- Eddystone-UID: a keyed hash of ``namespace+instance`` (``ble-uid``).
- RFID/NFC cards: a keyed hash of the card number (``rfid``).

Everything else (phones, headphones, Apple's other adverts, Eddystone
URL/TLM frames, Eddystone-EID frames, whose AES-based ids ingest cannot
resolve) is dropped here; its address and payload go nowhere. Hashes use
:func:`privacy.pseudonyms.static_badge_hash` with the site's badge-hash key.
"""

from __future__ import annotations

from campus.wire import SightingKind
from gateway import frames
from gateway.errors import FrameError
from gateway.models import Advert, BadgeIdentity, DropReason, EddystoneUid
from privacy.pseudonyms import static_badge_hash

__all__ = ["card_identity", "identify"]


def _hashed(kind: SightingKind, identifier: str, hash_key: bytes) -> BadgeIdentity:
    return BadgeIdentity(kind, static_badge_hash(hash_key, kind=kind.value, identifier=identifier).hex())


def identify(advert: Advert, *, hash_key: bytes) -> BadgeIdentity | DropReason:
    """The identity to forward for ``advert``, or why it is dropped. Never raises on bad frames."""
    for reader in (_badge_frame, _ibeacon, _eddystone_uid):
        found = reader(advert, hash_key)
        if found is not None:
            return found
    return DropReason.NOT_A_BADGE


def _badge_frame(advert: Advert, _hash_key: bytes) -> BadgeIdentity | DropReason | None:
    payload = advert.service_data.get(frames.BADGE_SERVICE_UUID)
    if payload is None:
        return None
    try:
        return BadgeIdentity(SightingKind.BLE_EID, frames.parse_badge_frame(payload).eid.hex())
    except FrameError:
        return DropReason.MALFORMED


def _ibeacon(advert: Advert, hash_key: bytes) -> BadgeIdentity | DropReason | None:
    payload = advert.manufacturer_data.get(frames.APPLE_COMPANY_ID)
    if payload is None:
        return None
    try:
        beacon = frames.parse_ibeacon(payload)
    except FrameError as exc:
        # Apple's other adverts (phones, AirPods) are not badges; a broken iBeacon is malformed.
        return None if exc.reason == "not_ibeacon" else DropReason.MALFORMED
    return _hashed(SightingKind.BLE_IBEACON, beacon.identifier, hash_key)


def _eddystone_uid(advert: Advert, hash_key: bytes) -> BadgeIdentity | DropReason | None:
    payload = advert.service_data.get(frames.EDDYSTONE_SERVICE_UUID)
    if payload is None:
        return None
    try:
        frame = frames.parse_eddystone(payload)
    except FrameError as exc:
        return DropReason.NOT_A_BADGE if exc.reason == "other_frame" else DropReason.MALFORMED
    if isinstance(frame, EddystoneUid):
        return _hashed(SightingKind.BLE_UID, frame.identifier, hash_key)
    return DropReason.NOT_A_BADGE  # Eddystone-EID: Google's AES ids, which ingest cannot resolve


def card_identity(card: str, *, hash_key: bytes) -> BadgeIdentity | None:
    """The keyed hash sent for a card number; ``None`` if it has no letters or digits at all."""
    if not any(ch.isalnum() for ch in card):
        return None
    return _hashed(SightingKind.RFID, card, hash_key)
