"""Verification of a sightings message, before anything else looks at it.

Order: the topic names a gateway of a served site; the payload is within the
size limit; the gateway is enrolled and not revoked; the Ed25519 signature
over topic and payload verifies; the payload decodes as a v1 batch; its site
and gateway agree with the topic; its send time is within the allowed clock
skew. Each failure raises :class:`Rejection` with a stable reason code.
Duplicates and replays of committed seqs are the ledger's business, not a
rejection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from campus import signing, topics, wire

__all__ = ["KnownGateway", "RejectReason", "Rejection", "verify_batch", "verify_status"]


class RejectReason(StrEnum):
    BAD_TOPIC = "bad_topic"
    OVERSIZED = "oversized"
    UNKNOWN_GATEWAY = "unknown_gateway"
    REVOKED_GATEWAY = "revoked_gateway"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"
    INVALID = "invalid"
    MISROUTED = "misrouted"
    CLOCK_SKEW = "clock_skew"


class Rejection(Exception):  # noqa: N818 - a rejection is an outcome, not an error of ours
    """A message refused with ``reason``; ``gateway_id`` when the topic named one."""

    def __init__(self, reason: RejectReason, detail: str, *, gateway_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.gateway_id = gateway_id


@dataclass(frozen=True, slots=True)
class KnownGateway:
    gateway_id: str
    site_id: str
    public_key: Ed25519PublicKey
    revoked: bool = False


def _authenticate(
    *,
    topic: str,
    kind: str,
    payload: bytes,
    signature: str | None,
    gateways: Mapping[str, KnownGateway],
    sites: frozenset[str],
    max_bytes: int,
) -> topics.GatewayTopic:
    """Checks common to every gateway message: topic, size, enrolment, signature."""
    parsed = topics.parse_gateway_topic(topic)
    if parsed is None or parsed.kind != kind or parsed.site not in sites:
        raise Rejection(RejectReason.BAD_TOPIC, f"not a {kind} topic of a served site: {topic!r}")
    gateway_id = parsed.gateway
    if len(payload) > max_bytes:
        raise Rejection(RejectReason.OVERSIZED, f"{len(payload)} bytes > {max_bytes}", gateway_id=gateway_id)
    known = gateways.get(gateway_id)
    if known is None:
        raise Rejection(RejectReason.UNKNOWN_GATEWAY, "gateway is not enrolled", gateway_id=gateway_id)
    if known.revoked:
        raise Rejection(RejectReason.REVOKED_GATEWAY, "gateway's key is revoked", gateway_id=gateway_id)
    if known.site_id != parsed.site:
        raise Rejection(
            RejectReason.MISROUTED, f"gateway belongs to site {known.site_id!r}", gateway_id=gateway_id
        )
    try:
        signing.verify(known.public_key, topic=topic, payload=payload, signature=signature)
    except signing.SignatureError as exc:
        raise Rejection(RejectReason(exc.reason), str(exc), gateway_id=gateway_id) from exc
    return parsed


def verify_batch(
    *,
    topic: str,
    payload: bytes,
    signature: str | None,
    gateways: Mapping[str, KnownGateway],
    sites: frozenset[str],
    now_ms: int,
    max_bytes: int,
    skew_ms: int,
) -> wire.SightingBatch:
    """Return the verified batch or raise :class:`Rejection`."""
    parsed = _authenticate(
        topic=topic,
        kind="sightings",
        payload=payload,
        signature=signature,
        gateways=gateways,
        sites=sites,
        max_bytes=max_bytes,
    )
    try:
        batch = wire.decode_batch(payload, max_bytes=max_bytes)
    except wire.WireError as exc:
        raise Rejection(RejectReason(exc.reason), exc.detail, gateway_id=parsed.gateway) from exc
    if batch.gateway != parsed.gateway or batch.site != parsed.site:
        raise Rejection(
            RejectReason.MISROUTED,
            "payload's site/gateway differ from the topic's",
            gateway_id=parsed.gateway,
        )
    if abs(batch.sent_at_ms - now_ms) > skew_ms:
        raise Rejection(
            RejectReason.CLOCK_SKEW,
            f"sent_at_ms is {(batch.sent_at_ms - now_ms) / 1000:+.1f} s from ingest's clock (limit {skew_ms / 1000:.0f} s)",
            gateway_id=parsed.gateway,
        )
    return batch


def verify_status(
    *,
    topic: str,
    payload: bytes,
    signature: str | None,
    gateways: Mapping[str, KnownGateway],
    sites: frozenset[str],
) -> wire.GatewayStatus:
    """Return the verified status or raise :class:`Rejection`.

    Status messages are retained, so an old one is normal; the caller keeps
    the newest by ``sent_at_ms`` instead of applying the clock-skew window.
    """
    parsed = _authenticate(
        topic=topic,
        kind="status",
        payload=payload,
        signature=signature,
        gateways=gateways,
        sites=sites,
        max_bytes=4096,
    )
    try:
        status = wire.decode_status(payload)
    except wire.WireError as exc:
        raise Rejection(RejectReason(exc.reason), exc.detail, gateway_id=parsed.gateway) from exc
    if status.gateway != parsed.gateway or status.site != parsed.site:
        raise Rejection(
            RejectReason.MISROUTED,
            "payload's site/gateway differ from the topic's",
            gateway_id=parsed.gateway,
        )
    return status
