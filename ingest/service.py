"""The ingest worker: MQTT in, one transaction per flush, acknowledgements out after commit.

Threads, and what each owns:

- the MQTT network thread (:class:`campus.mqtt.MqttLink`) puts each message in
  a bounded inbox. When the inbox is full it blocks, TCP backpressure reaches
  the broker, and the broker queues for this session (unacknowledged QoS 1
  messages are redelivered; gateways resend anything not acknowledged).
- the main thread verifies, de-duplicates, resolves badges, applies the
  consent gate and builds rows into the open flush; a flush closes after
  ``flush_interval_ms`` or ``flush_max_batches`` and goes to the writer
  through a queue of two, so a slow database slows intake instead of
  growing memory.
- the writer thread commits each flush in one transaction (ledger, presence
  rows, high-water marks, dead letters), retrying with backoff while the
  database is unreachable; only after the commit does it acknowledge the
  MQTT messages and publish each gateway's new high-water mark.
- the directory thread listens for consent and enrolment changes
  (``LISTEN campus_consent`` / ``campus_directory``) and swaps in fresh
  tables within about a second.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from campus import db, topics, wire
from campus.logs import get_logger
from campus.mqtt import Backoff, Inbound, MqttLink, broker_address
from campus.settings import Settings
from campus.signing import SIGNATURE_PROPERTY
from ingest import repository
from ingest.directory import BadgeDirectory, ConsentBook, Purpose
from ingest.ledger import BatchKey, SeqLedger
from ingest.locate import sighting_row
from ingest.repository import DeadLetter, GatewayPlacement, PresenceRow
from ingest.stats import IngestStats, register_for_export
from ingest.verify import KnownGateway, Rejection, verify_batch

__all__ = ["IngestService"]

log = get_logger(__name__)

# Inbox bound: about a second of messages at 100k sightings/s in batches of 50.
INBOX_MAX = 4000
HEARTBEAT_S = 2.0
LEDGER_PRUNE_S = 60.0
DIRECTORY_REFRESH_S = 60.0
# Failed commits tolerated during shutdown before giving up on the open flush.
SHUTDOWN_RETRIES = 3
# An ingest worker's broker session outlives a restart by this long, so
# messages published meanwhile wait for it.
SESSION_EXPIRY_S = 3600


@dataclass
class _Flush:
    opened: float
    batches: list[BatchKey] = field(default_factory=list)
    rows: dict[BatchKey, list[PresenceRow]] = field(default_factory=dict)
    sent_at_ms: dict[BatchKey, int] = field(default_factory=dict)
    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos)
    touched: set[tuple[str, int]] = field(default_factory=set)  # (gateway, boot) to acknowledge
    dead_letters: list[DeadLetter] = field(default_factory=list)
    sites: dict[str, str] = field(default_factory=dict)  # gateway -> site, for ack topics

    def empty(self) -> bool:
        return not (self.batches or self.acks or self.dead_letters)


@dataclass(frozen=True, slots=True)
class _Directory:
    gateways: dict[str, KnownGateway]
    placements: dict[str, GatewayPlacement]
    badges: BadgeDirectory


class IngestService:
    """One ingest worker serving ``sites``. Run with :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        sites: Sequence[str] | None = None,
        instance: str | None = None,
        group: str = "ingest",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sites = tuple(sites or (settings.site_id,))
        self.instance = instance or f"{socket.gethostname()}-{os.getpid()}"
        self._group = group
        self._clock = clock
        self.stats = IngestStats()
        self._ledger = SeqLedger()
        self._ledger_lock = threading.Lock()
        self._consents = ConsentBook()
        self._inbox: queue.Queue[Inbound] = queue.Queue(maxsize=INBOX_MAX)
        self._to_writer: queue.Queue[_Flush | None] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._closing = threading.Event()
        self.ready = threading.Event()
        self._started_at = datetime.now(UTC)
        self._directory: _Directory | None = None
        self._link: MqttLink | None = None
        register_for_export(self.instance, self.stats)

    # -- start-up ---------------------------------------------------------
    def _load_directory(self, conn: psycopg.Connection) -> _Directory:
        gateways, placements = repository.load_gateways(conn, self.sites)
        badges = BadgeDirectory(
            repository.load_badges(conn, self.sites, master_key=self.settings.master_key_bytes)
        )
        badges.prepare(int(self._clock() * 1000))
        return _Directory(gateways, placements, badges)

    def _bootstrap(self) -> None:
        with db.connect(self.settings.dsn, application_name="campus-ingest") as conn:
            self._directory = self._load_directory(conn)
            self._consents = ConsentBook(repository.load_consents(conn, self.sites))
            for gw, boot, hwm, above in repository.load_progress(conn, self._directory.gateways):
                self._ledger.load(gw, boot, hwm=hwm, above=above)
        log.info(
            "ingest.loaded",
            sites=",".join(self.sites),
            gateways=len(self._directory.gateways),
            badges=self._directory.badges.size,
            consenting=len(self._consents),
        )

    # -- run ----------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        self._bootstrap()
        writer = threading.Thread(target=self._writer, name="ingest-writer", daemon=True)
        listener = threading.Thread(target=self._listen, args=(stop,), name="ingest-directory", daemon=True)
        writer.start()
        listener.start()
        subscriptions = [
            (topics.shared(self._group, topics.sightings_filter(site)), 1) for site in self.sites
        ]
        self._link = MqttLink(
            broker_address(self.settings),
            client_id=f"ingest-{self.instance}",
            subscriptions=subscriptions,
            on_message=self._inbox.put,
            manual_ack=True,
            clean_start=False,
            session_expiry_s=SESSION_EXPIRY_S,
        )
        self._link.start()
        self.ready.set()
        log.info("ingest.started", instance=self.instance, broker=str(self._link.address))
        try:
            self._main_loop(stop)
        finally:
            self._closing.set()
            stop.set()
            self._to_writer.put(None)
            writer.join(timeout=30)
            listener.join(timeout=5)
            self._link.close()
            log.info(
                "ingest.stopped",
                instance=self.instance,
                **{k: v for k, v in self.stats.snapshot().items() if isinstance(v, int)},
            )

    def stop(self) -> None:
        self._stop.set()

    def _main_loop(self, stop: threading.Event) -> None:
        flush = _Flush(opened=time.monotonic())
        interval = self.settings.flush_interval_ms / 1000
        last_prepare = 0.0
        while True:
            stopping = stop.is_set()
            timeout = max(0.0, interval - (time.monotonic() - flush.opened))
            try:
                message = (
                    self._inbox.get(timeout=min(timeout, 0.05)) if not stopping else self._inbox.get_nowait()
                )
            except queue.Empty:
                message = None
            if message is not None:
                self._process(message, flush)
                # Drain what is already waiting before looking at the clock again.
                for _ in range(500):
                    try:
                        self._process(self._inbox.get_nowait(), flush)
                    except queue.Empty:
                        break
            self.stats.inbox_depth = self._inbox.qsize()
            now = time.monotonic()
            if (
                now - flush.opened >= interval
                or len(flush.batches) >= self.settings.flush_max_batches
                or (stopping and message is None)
            ):
                if not flush.empty():
                    self._to_writer.put(flush)  # blocks while the writer is two flushes behind
                flush = _Flush(opened=now)
                if stopping and message is None:
                    return
            if now - last_prepare >= 1.0 and self._directory is not None:
                self._directory.badges.prepare(int(self._clock() * 1000))
                last_prepare = now

    # -- per message ------------------------------------------------------------
    def _process(self, message: Inbound, flush: _Flush) -> None:
        self.stats.messages += 1
        directory = self._directory
        assert directory is not None
        now_ms = int(self._clock() * 1000)
        try:
            batch = verify_batch(
                topic=message.topic,
                payload=message.payload,
                signature=message.properties.get(SIGNATURE_PROPERTY),
                gateways=directory.gateways,
                sites=frozenset(self.sites),
                now_ms=now_ms,
                max_bytes=self.settings.max_message_bytes,
                skew_ms=int(self.settings.clock_skew_s * 1000),
            )
        except Rejection as exc:
            self.stats.rejected[exc.reason] += 1
            log.warning(
                "ingest.rejected", reason=str(exc.reason), gateway_id=exc.gateway_id, detail=exc.detail[:200]
            )
            flush.dead_letters.append(
                DeadLetter(message.topic, exc.reason, exc.detail, exc.gateway_id, message.payload)
            )
            flush.acks.append((message.mid, message.qos))
            return
        key: BatchKey = (batch.gateway, batch.boot, batch.seq)
        flush.acks.append((message.mid, message.qos))
        flush.touched.add((batch.gateway, batch.boot))
        flush.sites[batch.gateway] = batch.site
        with self._ledger_lock:
            fresh = self._ledger.admit(*key)
        if not fresh:
            self.stats.duplicates += 1
            return
        rows: list[PresenceRow] = []
        placement = directory.placements.get(batch.gateway)
        for sighting in batch.sightings:
            student = directory.badges.resolve(sighting.kind, sighting.id, at_ms=sighting.first_ms)
            if student is None:
                self.stats.unknown_badges += 1
                continue
            if not self._consents.allows(student, Purpose.LOCATION_TRACKING):
                self.stats.consent_drops += 1
                continue
            rows.append(
                sighting_row(
                    sighting,
                    student_key=student,
                    site_id=batch.site,
                    gateway_id=batch.gateway,
                    placement=placement,
                )
            )
        self.stats.batches += 1
        self.stats.sightings += len(batch.sightings)
        flush.batches.append(key)
        flush.rows[key] = rows
        flush.sent_at_ms[key] = batch.sent_at_ms

    # -- writer thread --------------------------------------------------------
    def _writer(self) -> None:
        conn: psycopg.Connection | None = None
        backoff = Backoff(base_s=0.2, cap_s=5.0)
        last_heartbeat = last_prune = 0.0
        while True:
            committed = False
            try:
                flush = self._to_writer.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                flush = _Flush(opened=time.monotonic())
            if flush is None:
                break
            while True:
                try:
                    if conn is None or conn.closed:
                        conn = db.connect(self.settings.dsn, application_name="campus-ingest-writer")
                    new = self._commit(conn, flush) if not flush.empty() else set()
                    now = time.monotonic()
                    if now - last_heartbeat >= HEARTBEAT_S:
                        repository.write_heartbeat(
                            conn,
                            service="ingest",
                            instance=self.instance,
                            started_at=self._started_at,
                            stats={**self.stats.snapshot(), "sites": list(self.sites)},
                        )
                        last_heartbeat = now
                    if now - last_prune >= LEDGER_PRUNE_S:
                        repository.prune_ledger(conn)
                        last_prune = now
                    backoff.reset()
                    committed = True
                    break
                except (psycopg.Error, db.DatabaseError) as exc:
                    # Unreachable database, or a failed statement: the transaction
                    # rolled back, nothing was acknowledged; retry the same flush.
                    self.stats.store_errors += 1
                    delay = backoff.next()
                    log.warning(
                        "ingest.commit_failed", error=str(exc).splitlines()[0][:200], retry_s=round(delay, 2)
                    )
                    if conn is not None:
                        conn.close()
                    conn = None
                    if self._closing.is_set() and self.stats.store_errors >= SHUTDOWN_RETRIES:
                        # Shutting down with the database away: leave the flush
                        # unacknowledged; gateways will send it again.
                        break
                    time.sleep(delay)
            if committed and not flush.empty():
                self._after_commit(flush, new)
        if conn is not None:
            conn.close()

    def _commit(self, conn: psycopg.Connection, flush: _Flush) -> set[BatchKey]:
        """Rows, ledger and high-water marks in one transaction; then the in-memory ledger."""
        with self._ledger_lock:
            progress = self._ledger.preview(flush.batches)
        new = repository.commit_flush(
            conn,
            batches=flush.batches,
            rows_by_batch=flush.rows,
            progress=progress,
            dead_letters=flush.dead_letters,
            dead_letter_max_rows=self.settings.dead_letter_max_rows,
        )
        with self._ledger_lock:
            self._ledger.commit(flush.batches)
        return new

    def _after_commit(self, flush: _Flush, new: set[BatchKey]) -> None:
        link = self._link
        assert link is not None
        committed_ms = int(self._clock() * 1000)
        self.stats.flushes += 1
        self.stats.flush_sizes.append(len(flush.batches))
        self.stats.duplicates += len(flush.batches) - len(new)
        for key in new:
            self.stats.rows += len(flush.rows.get(key, ()))
            self.stats.commit_latency_ms.append(committed_ms - flush.sent_at_ms[key])
        for mid, qos in flush.acks:
            if qos > 0:
                link.ack(mid, qos)
        for gateway_id, boot in flush.touched:
            with self._ledger_lock:
                hwm, above = self._ledger.state(gateway_id, boot)
            ack = wire.Ack(
                v=1,
                gateway=gateway_id,
                boot=boot,
                hwm=hwm,
                committed_at_ms=committed_ms,
                committed_above=above[:1000],
            )
            link.publish(topics.ack(flush.sites[gateway_id], gateway_id), wire.encode(ack), qos=1)

    # -- directory thread -----------------------------------------------------
    def _listen(self, stop: threading.Event) -> None:
        backoff = Backoff(base_s=0.5, cap_s=10.0)
        while not stop.is_set():
            try:
                with db.connect(
                    self.settings.dsn, autocommit=True, application_name="campus-ingest-listen"
                ) as conn:
                    conn.execute("LISTEN campus_consent")
                    conn.execute("LISTEN campus_directory")
                    backoff.reset()
                    last_refresh = time.monotonic()
                    while not stop.is_set():
                        changed_students: list[str] = []
                        reload_directory = False
                        for note in conn.notifies(timeout=0.5, stop_after=1000):
                            if note.channel == "campus_consent":
                                changed_students.append(note.payload)
                            else:
                                reload_directory = True
                        if changed_students:
                            self._refresh_consents(conn, changed_students)
                        if reload_directory or time.monotonic() - last_refresh > DIRECTORY_REFRESH_S:
                            self._directory = self._load_directory(conn)
                            last_refresh = time.monotonic()
            except (psycopg.OperationalError, db.DatabaseError) as exc:
                delay = backoff.next()
                log.warning(
                    "ingest.listen_failed", error=str(exc).splitlines()[0][:200], retry_s=round(delay, 2)
                )
                stop.wait(delay)

    def _refresh_consents(self, conn: psycopg.Connection, student_ids: list[str]) -> None:
        ids = sorted(set(student_ids))
        grants = repository.load_consents(conn, self.sites, student_ids=ids)
        for student_key in repository.student_keys(conn, ids):
            self._consents.set(student_key, grants.get(student_key, ()))
