"""Every rejection reason of ingest's verification, and the happy path."""

from __future__ import annotations

import time

import pytest

from campus import signing, topics, wire
from ingest.verify import KnownGateway, Rejection, RejectReason, verify_batch

KEY = signing.generate_private_key()
NOW_MS = int(time.time() * 1000)
GATEWAYS = {
    "gw-1": KnownGateway("gw-1", "s1", KEY.public_key()),
    "gw-old": KnownGateway("gw-old", "s1", KEY.public_key(), revoked=True),
    "gw-other": KnownGateway("gw-other", "s2", KEY.public_key()),
}


def payload(
    *, site: str = "s1", gateway: str = "gw-1", sent_at_ms: int = NOW_MS, extra: bytes = b""
) -> bytes:
    body = wire.encode(
        wire.SightingBatch(
            v=1,
            site=site,
            gateway=gateway,
            boot=1,
            seq=1,
            sent_at_ms=sent_at_ms,
            sightings=[
                wire.Sighting(kind=wire.SightingKind.RFID, id="ab" * 16, first_ms=NOW_MS, last_ms=NOW_MS)
            ],
        )
    )
    return body[:-1] + extra + b"}" if extra else body


def check(topic: str, body: bytes, *, sig: str | None = "auto", max_bytes: int = 65536) -> wire.SightingBatch:
    signature = signing.sign(KEY, topic=topic, payload=body) if sig == "auto" else sig
    return verify_batch(
        topic=topic,
        payload=body,
        signature=signature,
        gateways=GATEWAYS,
        sites=frozenset({"s1", "s2"}),
        now_ms=NOW_MS,
        max_bytes=max_bytes,
        skew_ms=300_000,
    )


def reason_of(topic: str, body: bytes, **kwargs: object) -> RejectReason:
    with pytest.raises(Rejection) as caught:
        check(topic, body, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


T = topics.sightings("s1", "gw-1")


def test_valid_batch_verifies() -> None:
    batch = check(T, payload())
    assert (batch.gateway, batch.boot, batch.seq) == ("gw-1", 1, 1)


def test_each_reason() -> None:
    assert reason_of("campus/v1/s1/gateways/gw-1/status", payload()) is RejectReason.BAD_TOPIC
    assert reason_of(topics.sightings("s9", "gw-1"), payload(site="s9")) is RejectReason.BAD_TOPIC
    assert reason_of(T, payload(), max_bytes=50) is RejectReason.OVERSIZED
    assert reason_of(topics.sightings("s1", "gw-x"), payload(gateway="gw-x")) is RejectReason.UNKNOWN_GATEWAY
    assert (
        reason_of(topics.sightings("s1", "gw-old"), payload(gateway="gw-old")) is RejectReason.REVOKED_GATEWAY
    )
    assert (
        reason_of(topics.sightings("s1", "gw-other"), payload(gateway="gw-other")) is RejectReason.MISROUTED
    )
    assert reason_of(T, payload(), sig=None) is RejectReason.UNSIGNED
    assert reason_of(T, payload(), sig="not base64!") is RejectReason.BAD_SIGNATURE
    other = signing.sign(signing.generate_private_key(), topic=T, payload=payload())
    assert reason_of(T, payload(), sig=other) is RejectReason.BAD_SIGNATURE
    assert reason_of(T, b"{not json") is RejectReason.MALFORMED
    assert reason_of(T, payload(extra=b',"surprise":1')) is RejectReason.INVALID
    assert reason_of(T, payload(gateway="gw-other")) is RejectReason.MISROUTED
    assert reason_of(T, payload(sent_at_ms=NOW_MS - 301_000)) is RejectReason.CLOCK_SKEW


def test_signature_binds_the_topic() -> None:
    body = payload()
    sig_for_other_topic = signing.sign(KEY, topic=topics.sightings("s1", "gw-2"), payload=body)
    assert reason_of(T, body, sig=sig_for_other_topic) is RejectReason.BAD_SIGNATURE
