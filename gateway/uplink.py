"""Publishing journalled batches and trimming them when ingest acknowledges the commit.

The sender sends every journal entry in ``(boot, seq)`` order, signed at send
time (so ``sent_at_ms`` is the time of this attempt), keeps at most
``max_unacked`` entries in flight, and sends an entry again when no
acknowledgement covered it within ``resend_after_s``. Ingest absorbs the
duplicates this produces. On every connect, everything still in the journal
is due again at once.

The retained status (``online`` on connect and every 30 s, ``offline`` as the
last will) carries the firmware version, uptime, journal depth, the scan
rate given by :meth:`Uplink.set_scan_rate`, and an approximate clock offset
estimated from ingest's acks (see :mod:`gateway.clock`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from campus import signing, topics, wire
from campus.logs import get_logger
from campus.mqtt import Backoff, BrokerAddress, Inbound, MqttLink
from gateway.clock import ClockOffsetEstimator
from gateway.journal import Journal, JournalEntry

__all__ = ["Uplink", "UplinkStats", "encode_body"]

log = get_logger(__name__)

# No acknowledgement within this time means the batch, or its ack, was lost
# (broker restart, ingest restart, queue overflow): send it again.
RESEND_AFTER_S = 10.0
# Bounds the burst after an outage; at 50 sightings per batch this is 25,000
# sightings in flight per gateway.
MAX_UNACKED = 500
STATUS_INTERVAL_S = 30.0
# On a clean shutdown, how long to wait for the broker to take the offline status.
OFFLINE_STATUS_TIMEOUT_S = 2.0

_body_encoder = msgspec.json.Encoder()
_json = msgspec.json.Encoder()


def encode_body(sightings: list[wire.Sighting]) -> bytes:
    """The journalled form of a batch: its sightings as a JSON array."""
    return _body_encoder.encode(sightings)


@dataclass(slots=True)
class UplinkStats:
    published: int = 0
    resent: int = 0
    acked: int = 0


class Uplink:
    """Sends a gateway's journal to the broker and trims it on committed acks."""

    def __init__(
        self,
        *,
        gateway_id: str,
        site: str,
        key: Ed25519PrivateKey,
        journal: Journal,
        address: BrokerAddress,
        firmware: str = "campus-gateway/0.1",
        clock: Callable[[], float] = time.time,
        resend_after_s: float = RESEND_AFTER_S,
        max_unacked: int = MAX_UNACKED,
        scan_rate: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.gateway_id = gateway_id
        self.site = site
        self._key = key
        self.journal = journal
        self._clock = clock
        self._resend_after = resend_after_s
        self._max_unacked = max_unacked
        self._scan_rate = scan_rate
        self._firmware = firmware
        self._started = time.monotonic()
        self._topic = topics.sightings(site, gateway_id)
        self._status_topic = topics.status(site, gateway_id)
        self._inflight: dict[tuple[int, int], float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.stats = UplinkStats()
        self._offset = ClockOffsetEstimator()
        will_payload = self._status_payload(wire.GatewayState.OFFLINE)
        self.link = MqttLink(
            address,
            client_id=f"gw-{site}-{gateway_id}",
            subscriptions=[(topics.ack(site, gateway_id), 1)],
            on_message=self._on_ack,
            on_connect=self._on_connect,
            will=(
                self._status_topic,
                will_payload,
                {signing.SIGNATURE_PROPERTY: self._sign(self._status_topic, will_payload)},
            ),
            backoff=Backoff(base_s=0.25, cap_s=15.0),
        )
        self._thread = threading.Thread(target=self._run, name=f"uplink-{gateway_id}", daemon=True)

    # -- lifecycle -----------------------------------------------------
    def __enter__(self) -> Uplink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.link.start()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        if self.link.connected:
            # A clean disconnect does not fire the last will: say "offline" ourselves.
            info = self._publish_status(wire.GatewayState.OFFLINE)
            try:
                info.wait_for_publish(timeout=OFFLINE_STATUS_TIMEOUT_S)
            except (RuntimeError, ValueError):
                log.warning("uplink.offline_status_not_sent", gateway=self.gateway_id)
        self.link.close()

    def set_scan_rate(self, source: Callable[[], float]) -> None:
        """Where the status's ``scan_rate`` (adverts per second) comes from."""
        self._scan_rate = source

    @property
    def clock_offset_ms(self) -> int:
        """Approximate offset of this gateway's clock from ingest's (positive: ahead); 0 before any ack."""
        with self._lock:  # the ack handler appends from the network thread
            return self._offset.offset_ms()

    # -- producer side -------------------------------------------------
    def submit(self, sightings: list[wire.Sighting]) -> JournalEntry:
        """Journal a batch durably, then let the sender publish it."""
        entry = self.journal.append(encode_body(sightings), created_ms=int(self._clock() * 1000))
        self._wake.set()
        return entry

    # -- internals -----------------------------------------------------
    def _sign(self, topic: str, payload: bytes) -> str:
        return signing.sign(self._key, topic=topic, payload=payload)

    def _payload(self, entry: JournalEntry) -> bytes:
        return b"".join(
            (
                b'{"v":1,"site":',
                _json.encode(self.site),
                b',"gateway":',
                _json.encode(self.gateway_id),
                b',"boot":%d,"seq":%d,"sent_at_ms":%d,"sightings":'
                % (entry.boot, entry.seq, int(self._clock() * 1000)),
                entry.body,
                b"}",
            )
        )

    def _status_payload(self, state: wire.GatewayState) -> bytes:
        return wire.encode(
            wire.GatewayStatus(
                v=1,
                site=self.site,
                gateway=self.gateway_id,
                state=state,
                boot=self.journal.boot,
                sent_at_ms=int(self._clock() * 1000),
                firmware=self._firmware,
                uptime_s=round(time.monotonic() - self._started, 1),
                journal_depth=self.journal.depth(),
                scan_rate=round(max(self._scan_rate(), 0.0), 2),
                clock_offset_ms=self.clock_offset_ms,
            )
        )

    def publish_status(self) -> None:
        """Publish the retained ``online`` status now (it is also sent on connect and every 30 s)."""
        self._publish_status(wire.GatewayState.ONLINE)

    def _publish_status(self, state: wire.GatewayState) -> paho.MQTTMessageInfo:
        payload = self._status_payload(state)
        return self.link.publish(
            self._status_topic,
            payload,
            retain=True,
            props={signing.SIGNATURE_PROPERTY: self._sign(self._status_topic, payload)},
        )

    def _on_connect(self) -> None:
        with self._lock:
            self._inflight.clear()  # everything unacknowledged is due again
        self.publish_status()
        self._wake.set()

    def _on_ack(self, message: Inbound) -> None:
        try:
            ack = wire.decode_ack(message.payload)
        except wire.WireError as exc:
            log.warning("uplink.bad_ack", gateway=self.gateway_id, reason=exc.reason)
            return
        if ack.gateway != self.gateway_id:
            return
        received_ms = int(self._clock() * 1000)
        with self._lock:
            self._offset.observe(committed_at_ms=ack.committed_at_ms, received_ms=received_ms)
        trimmed = self.journal.trim(boot=ack.boot, hwm=ack.hwm, also=tuple(ack.committed_above))
        with self._lock:
            for key in [
                k
                for k in self._inflight
                if k[0] == ack.boot and (k[1] <= ack.hwm or k[1] in ack.committed_above)
            ]:
                del self._inflight[key]
        self.stats.acked += trimmed
        self._wake.set()

    def _run(self) -> None:
        last_status = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            if not self.link.connected:
                continue
            self._send_due()
            if time.monotonic() - last_status >= STATUS_INTERVAL_S:
                self.publish_status()
                last_status = time.monotonic()

    def _send_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            outstanding = sum(1 for sent in self._inflight.values() if now - sent < self._resend_after)
        budget = self._max_unacked - outstanding
        if budget <= 0:
            return
        for entry in self.journal.pending(limit=self._max_unacked):
            key = (entry.boot, entry.seq)
            with self._lock:
                sent = self._inflight.get(key)
                if sent is not None and now - sent < self._resend_after:
                    continue
                self._inflight[key] = now
            payload = self._payload(entry)
            self.link.publish(
                self._topic, payload, props={signing.SIGNATURE_PROPERTY: self._sign(self._topic, payload)}
            )
            if sent is None:
                self.stats.published += 1
            else:
                self.stats.resent += 1
            budget -= 1
            if budget <= 0:
                break
