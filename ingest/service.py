"""The ingest worker: MQTT in, one transaction per flush, acknowledgements and events out after commit.

Threads, and what each owns:

- the MQTT network thread (:class:`campus.mqtt.MqttLink`) puts each message in
  a bounded inbox. When the inbox is full it blocks, TCP backpressure reaches
  the broker, and the broker queues for this session (unacknowledged QoS 1
  messages are redelivered; gateways resend anything not acknowledged).
- the main thread verifies, de-duplicates, resolves badges, applies the
  consent gate, feeds each site's tracker and collects the rows it decides
  into the open flush; a flush closes after ``flush_interval_ms`` or
  ``flush_max_batches`` and goes to the writer through a queue of two, so a
  slow database slows intake instead of growing memory.
- the writer thread commits each flush in one transaction (ledger and
  high-water marks, presence, transitions, current state, door taps, gateway
  status, dead letters), retrying with backoff while the database is
  unreachable; only after the commit does it acknowledge the MQTT messages,
  publish each gateway's new high-water mark and publish the zone changes.
- the directory thread listens for consent and enrolment changes
  (``LISTEN campus_consent`` / ``campus_directory``) and swaps in fresh
  tables within about a second.

Consent is enforced twice: at intake (a sighting of a student without the
purpose's consent never reaches the tracker) and at output (the writer drops
every row and event of a student who does not hold the consent *at commit
time*, so a flush decided before a withdrawal cannot store it). On a
withdrawal the main thread also forgets the student's live tracking state,
and the writer runs due erasure passes (privacy.erasure) as housekeeping.
Dead letters keep only a redacted summary of the rejected payload
(privacy.redact): no badge identifier is ever stored for a message that was
not accepted.

Sites are the unit of partitioning: a worker serves ``sites`` and holds a
PostgreSQL advisory lock per site while it runs, so two workers never track
the same students (Mosquitto's shared subscriptions deliver round-robin, not
by key, so two workers on one site would each see half of every student's
sightings). More throughput means more workers, each for other sites.
"""

from __future__ import annotations

import math
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg

from campus import db, events, topics, wire
from campus.logs import get_logger
from campus.mqtt import Backoff, Inbound, MqttLink, broker_address
from campus.settings import Settings
from campus.signing import SIGNATURE_PROPERTY
from ingest import repository
from ingest.directory import BadgeDirectory, ConsentBook, Purpose
from ingest.ledger import BatchKey, SeqLedger
from ingest.repository import (
    DeadLetter,
    FlushContent,
    GatewayPlacement,
    GatewayStatusRow,
    PresenceRow,
    TapRow,
    ZoneInfo,
)
from ingest.site import SiteState, claim_radius
from ingest.stats import IngestStats, register_for_export
from ingest.verify import KnownGateway, Rejection, verify_batch, verify_status
from privacy.erasure import run_pending_erasures
from privacy.redact import redact_payload

__all__ = ["IngestService", "SiteBusyError"]

log = get_logger(__name__)

# Inbox bound: about a second of messages at 100k sightings/s in batches of 50.
INBOX_MAX = 4000
HEARTBEAT_S = 2.0
LEDGER_PRUNE_S = 60.0
DIRECTORY_REFRESH_S = 60.0
# Failed commits tolerated during shutdown before giving up on the open flush.
SHUTDOWN_RETRIES = 3
# A statement that fails this many times in a row with the database reachable
# is a defect, not an outage: the flush is committed without the rows derived
# from it (ledger, acknowledgements and dead letters only), loudly, rather than
# stopping all of ingest behind it.
DERIVED_ROW_RETRIES = 3
# An ingest worker's broker session outlives a restart by this long, so
# messages published meanwhile wait for it.
SESSION_EXPIRY_S = 3600
# How long a second worker waits for a site's lease before giving up.
LEASE_WAIT_S = 30.0
# Due erasure passes are looked for this often: well inside the 60 s default
# between a withdrawal and its second pass.
ERASURE_CHECK_S = 5.0


class SiteBusyError(RuntimeError):
    """Another ingest worker holds the site's lease."""


@dataclass
class _Flush:
    opened: float
    batches: list[BatchKey] = field(default_factory=list)
    sent_at_ms: dict[BatchKey, int] = field(default_factory=dict)
    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos)
    touched: set[tuple[str, int]] = field(default_factory=set)  # (gateway, boot) to acknowledge
    sites: dict[str, str] = field(default_factory=dict)  # gateway -> site, for ack topics
    presence: list[PresenceRow] = field(default_factory=list)
    transitions: list[repository.TransitionRow] = field(default_factory=list)
    current: dict[int, repository.CurrentState] = field(default_factory=dict)  # latest per student
    taps: list[TapRow] = field(default_factory=list)
    statuses: list[GatewayStatusRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    events: dict[str, list[events.PresenceEvent]] = field(default_factory=dict)
    site_ticks: dict[str, int] = field(default_factory=dict)
    decided_after_sent_ms: int = 0  # newest send time of the evidence behind this flush's decisions

    def empty(self) -> bool:
        return not (
            self.batches
            or self.acks
            or self.dead_letters
            or self.transitions
            or self.presence
            or self.current
        )


@dataclass(frozen=True, slots=True)
class _Directory:
    gateways: dict[str, KnownGateway]
    placements: dict[str, GatewayPlacement]
    zones: dict[str, dict[str, ZoneInfo]]
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
        # Built by the directory thread, applied by the main thread between messages.
        self._pending_directory: _Directory | None = None
        self._link: MqttLink | None = None
        self._site_state = {site: SiteState(site) for site in self.sites}
        # Students whose location consent was withdrawn, from the directory
        # thread to the main thread (which owns the trackers).
        self._forget: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._last_erasure_check = 0.0
        self._status_seen: dict[str, int] = {}
        self._lease: psycopg.Connection | None = None
        self._writer_conn: psycopg.Connection | None = None
        self._last_heartbeat = self._last_prune = 0.0
        register_for_export(self.instance, self.stats)

    # -- start-up ---------------------------------------------------------
    def _load_directory(self, conn: psycopg.Connection) -> _Directory:
        gateways, placements = repository.load_gateways(conn, self.sites)
        zones = repository.load_zones(conn, self.sites)
        badges = BadgeDirectory(
            repository.load_badges(
                conn,
                self.sites,
                master_key=self.settings.master_key_bytes,
                previous_master_keys=self.settings.previous_master_key_bytes,
            )
        )
        badges.prepare(int(self._clock() * 1000))
        return _Directory(gateways, placements, zones, badges)

    def _apply_directory(self, directory: _Directory) -> None:
        students = directory.badges.students
        for site, state in self._site_state.items():
            site_placements = {
                g: p for g, p in directory.placements.items() if directory.gateways[g].site_id == site
            }
            state.configure(site_placements, directory.zones.get(site, {}))
            state.register_students(students if len(self.sites) == 1 else set())
        self._directory = directory

    def _acquire_leases(self) -> None:
        """Hold a session-level advisory lock per site for as long as this worker runs."""
        conn = db.connect(
            self.settings.dsn, autocommit=True, application_name=f"campus-ingest-lease-{self.instance}"
        )
        deadline = time.monotonic() + LEASE_WAIT_S
        for site in self.sites:
            while True:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(hashtext('campus-ingest'), hashtext(%s))", (site,)
                ).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() > deadline:
                    conn.close()
                    raise SiteBusyError(f"another ingest worker is serving site {site!r}")
                time.sleep(1.0)
        self._lease = conn

    def _bootstrap(self) -> None:
        self._acquire_leases()
        with db.connect(self.settings.dsn, application_name="campus-ingest") as conn:
            directory = self._load_directory(conn)
            self._apply_directory(directory)
            self._consents = ConsentBook(repository.load_consents(conn, self.sites))
            for gw, boot, hwm, above in repository.load_progress(conn, directory.gateways):
                self._ledger.load(gw, boot, hwm=hwm, above=above)
            for current in repository.load_current(conn, self.sites):
                self._site_state[current.site_id].restore(current)
            offline = repository.load_offline_gateways(conn, self.sites)
            for site, tick in repository.load_site_ticks(conn, self.sites).items():
                self._site_state[site].resume_after(tick)
        for site, state in self._site_state.items():
            state.set_offline({g for g in offline if directory.gateways[g].site_id == site})
        log.info(
            "ingest.loaded",
            sites=",".join(self.sites),
            gateways=len(directory.gateways),
            badges=directory.badges.size,
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
        subscriptions += [(topics.status_filter(site), 1) for site in self.sites]
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
            if self._lease is not None:
                self._lease.close()
            summary = {k: v for k, v in self.stats.snapshot().items() if isinstance(v, int)}
            log.info("ingest.stopped", instance=self.instance, **summary)

    def stop(self) -> None:
        self._stop.set()

    def _main_loop(self, stop: threading.Event) -> None:
        flush = _Flush(opened=time.monotonic())
        interval = self.settings.flush_interval_ms / 1000
        last_prepare = 0.0
        while True:
            pending, self._pending_directory = self._pending_directory, None
            if pending is not None:
                self._apply_directory(pending)
            self._forget_withdrawn()
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
            self._advance_sites(flush)
            self.stats.inbox_depth = self._inbox.qsize()
            now = time.monotonic()
            full = len(flush.batches) >= self.settings.flush_max_batches
            if now - flush.opened >= interval or full or (stopping and message is None):
                if not flush.empty():
                    self._to_writer.put(flush)  # blocks while the writer is two flushes behind
                flush = _Flush(opened=now)
                if stopping and message is None:
                    return
            if now - last_prepare >= 1.0 and self._directory is not None:
                self._directory.badges.prepare(int(self._clock() * 1000))
                last_prepare = now

    def _forget_withdrawn(self) -> None:
        while True:
            try:
                student_key = self._forget.get_nowait()
            except queue.Empty:
                return
            for state in self._site_state.values():
                state.forget(student_key)

    def _advance_sites(self, flush: _Flush) -> None:
        now_s = self._clock()
        for site, state in self._site_state.items():
            output = state.advance(now_s)
            if output is None:
                continue
            flush.presence += output.presence
            flush.transitions += output.transitions
            flush.current.update((state.student_key, state) for state in output.current)
            flush.site_ticks[site] = output.last_tick_ms
            if output.events:
                flush.events.setdefault(site, []).extend(output.events)

    # -- per message ------------------------------------------------------------
    def _reject(self, message: Inbound, flush: _Flush, exc: Rejection) -> None:
        self.stats.rejected[exc.reason] += 1
        log.warning(
            "ingest.rejected", reason=str(exc.reason), gateway_id=exc.gateway_id, detail=exc.detail[:200]
        )
        flush.dead_letters.append(
            DeadLetter(message.topic, exc.reason, exc.detail, exc.gateway_id, redact_payload(message.payload))
        )
        flush.acks.append((message.mid, message.qos))

    def _process(self, message: Inbound, flush: _Flush) -> None:
        self.stats.messages += 1
        if message.topic.endswith("/status"):
            self._process_status(message, flush)
            return
        directory = self._directory
        assert directory is not None
        arrival_s = self._clock()
        try:
            batch = verify_batch(
                topic=message.topic,
                payload=message.payload,
                signature=message.properties.get(SIGNATURE_PROPERTY),
                gateways=directory.gateways,
                sites=frozenset(self.sites),
                now_ms=int(arrival_s * 1000),
                max_bytes=self.settings.max_message_bytes,
                skew_ms=int(self.settings.clock_skew_s * 1000),
            )
        except Rejection as exc:
            self._reject(message, flush, exc)
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
        self._track(batch, directory, flush, arrival_s=arrival_s)
        self.stats.batches += 1
        self.stats.sightings += len(batch.sightings)
        flush.batches.append(key)
        flush.sent_at_ms[key] = batch.sent_at_ms
        flush.decided_after_sent_ms = max(flush.decided_after_sent_ms, batch.sent_at_ms)

    def _track(
        self, batch: wire.SightingBatch, directory: _Directory, flush: _Flush, *, arrival_s: float
    ) -> None:
        """Resolve, gate on consent, and feed the site's tracker (or the late path)."""
        site = self._site_state[batch.site]
        offset = site.watermark.offset_ms(batch.gateway, sent_at_ms=batch.sent_at_ms, arrival_s=arrival_s)
        reader = site.reader_index(batch.gateway)
        placement = directory.placements.get(batch.gateway)
        reader_zone = placement.zone_id if placement else None
        late_cutoff = site.late_cutoff_ms()
        current_get = directory.badges.current.get
        resolve = directory.badges.resolve
        may_locate = self._consents.holders(Purpose.LOCATION_TRACKING)
        may_mark = self._consents.holders(Purpose.AUTOMATIC_ATTENDANCE)
        student_index = site.student_index
        ble_eid, rfid = wire.SightingKind.BLE_EID, wire.SightingKind.RFID
        students: list[int] = []
        times: list[int] = []
        rssi: list[float] = []
        latest = 0
        for sighting in batch.sightings:
            t_ms = sighting.last_ms - offset
            latest = max(latest, t_ms)
            kind = sighting.kind
            student = current_get(sighting.id) if kind is ble_eid else None
            if student is None:
                student = resolve(kind, sighting.id, at_ms=sighting.first_ms)
                if student is None:
                    self.stats.unknown_badges += 1
                    continue
            is_tap = kind is rfid
            if is_tap and student in may_mark:
                flush.taps.append(TapRow(_ts(t_ms), batch.site, student, reader_zone, batch.gateway))
                self.stats.attendance_taps += 1
            if student not in may_locate:
                if not is_tap:
                    self.stats.consent_drops += 1
                continue
            if reader is None:
                continue
            if late_cutoff is not None and t_ms <= late_cutoff:
                self._late_row(
                    flush,
                    batch,
                    sighting,
                    student=student,
                    t_ms=t_ms,
                    placement=placement,
                    directory=directory,
                )
                continue
            students.append(student_index(student))
            times.append(t_ms)
            rssi.append(
                math.nan if is_tap else float(sighting.rssi_max if sighting.rssi_max is not None else -100)
            )
        if students and reader is not None:
            n = len(students)
            site.tracker.add(
                students=np.array(students, dtype=np.int64),
                readers=np.full(n, reader, dtype=np.int64),
                rssi=np.array(rssi),
                t_ms=np.array(times, dtype=np.int64),
            )
        if latest:
            site.watermark.observe(batch.gateway, event_ms=latest, arrival_s=arrival_s)

    def _late_row(
        self,
        flush: _Flush,
        batch: wire.SightingBatch,
        sighting: wire.Sighting,
        *,
        student: int,
        t_ms: int,
        placement: GatewayPlacement | None,
        directory: _Directory,
    ) -> None:
        """Evidence older than live tracking (a gateway's journal after its own outage).

        History is backfilled with the reader's zone when the reading claims
        it (a door tap, or a signal inside the reader's claim radius); live
        state is not rewound. Weaker late evidence is counted, not stored.
        """
        self.stats.late_sightings += 1
        if placement is None or placement.zone_id is None:
            return
        if sighting.kind is not wire.SightingKind.RFID:
            if sighting.rssi_max is None:
                return
            zone = directory.zones.get(batch.site, {}).get(placement.zone_id)
            distance = 10 ** (
                (placement.rssi_at_1m - sighting.rssi_max) / (10 * placement.path_loss_exponent)
            )
            if distance > claim_radius(placement, zone):
                return
        flush.presence.append(
            PresenceRow(_ts(t_ms), batch.site, student, placement.zone_id, "late", 0.5, batch.gateway)
        )

    def _process_status(self, message: Inbound, flush: _Flush) -> None:
        directory = self._directory
        assert directory is not None
        try:
            status = verify_status(
                topic=message.topic,
                payload=message.payload,
                signature=message.properties.get(SIGNATURE_PROPERTY),
                gateways=directory.gateways,
                sites=frozenset(self.sites),
            )
        except Rejection as exc:
            self._reject(message, flush, exc)
            return
        flush.acks.append((message.mid, message.qos))
        if status.sent_at_ms <= self._status_seen.get(status.gateway, 0):
            return  # an older retained copy
        self._status_seen[status.gateway] = status.sent_at_ms
        self.stats.status_messages += 1
        self._site_state[status.site].mark_gateway(
            status.gateway, online=status.state is wire.GatewayState.ONLINE
        )
        flush.statuses.append(
            GatewayStatusRow(
                status.gateway,
                status.state,
                status.boot,
                status.firmware,
                status.uptime_s,
                status.journal_depth,
                status.scan_rate,
                status.clock_offset_ms,
                _ts(status.sent_at_ms),
                datetime.now(UTC),
            )
        )

    # -- writer thread --------------------------------------------------------
    def _writer(self) -> None:
        while True:
            try:
                flush = self._to_writer.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                flush = _Flush(opened=time.monotonic())
            if flush is None:
                break
            committed, new = self._commit_with_retry(flush)
            if committed and not flush.empty():
                self._after_commit(flush, new)
        if self._writer_conn is not None:
            self._writer_conn.close()

    def _commit_with_retry(self, flush: _Flush) -> tuple[bool, set[BatchKey]]:
        """Commit (plus heartbeat and ledger pruning when due); retry until it works or shutdown gives up."""
        backoff = Backoff(base_s=0.2, cap_s=5.0)
        statement_failures = 0
        while True:
            try:
                conn = self._writer_conn
                if conn is None or conn.closed:
                    conn = self._writer_conn = db.connect(
                        self.settings.dsn, application_name="campus-ingest-writer"
                    )
                self._gate_output(flush)
                new = self._commit(conn, flush) if not flush.empty() else set()
                self._housekeeping(conn)
            except (psycopg.Error, db.DatabaseError) as exc:
                # Unreachable database, or a failed statement: the transaction
                # rolled back, nothing was acknowledged; retry the same flush.
                self.stats.store_errors += 1
                if not isinstance(exc, psycopg.OperationalError | db.DatabaseError):
                    statement_failures += 1
                    if statement_failures >= DERIVED_ROW_RETRIES:
                        self._drop_derived_rows(flush, exc)
                delay = backoff.next()
                log.warning(
                    "ingest.commit_failed", error=str(exc).splitlines()[0][:200], retry_s=round(delay, 2)
                )
                if self._writer_conn is not None:
                    self._writer_conn.close()
                self._writer_conn = None
                if self._closing.is_set() and self.stats.store_errors >= SHUTDOWN_RETRIES:
                    # Shutting down with the database away: leave the flush
                    # unacknowledged; gateways will send it again.
                    return False, set()
                time.sleep(delay)
            else:
                return True, new

    def _gate_output(self, flush: _Flush) -> None:
        """Drop rows and events of students who do not hold the consent now (checked at every commit attempt)."""
        locate = self._consents.holders(Purpose.LOCATION_TRACKING)
        mark = self._consents.holders(Purpose.AUTOMATIC_ATTENDANCE)
        before = len(flush.presence) + len(flush.transitions) + len(flush.current) + len(flush.taps)
        flush.presence = [r for r in flush.presence if r.student_key in locate]
        flush.transitions = [r for r in flush.transitions if r.student_key in locate]
        flush.current = {k: v for k, v in flush.current.items() if k in locate}
        flush.taps = [r for r in flush.taps if r.student_key in mark]
        for site, site_events in flush.events.items():
            flush.events[site] = [e for e in site_events if e.student_key in locate]
        dropped = before - len(flush.presence) - len(flush.transitions) - len(flush.current) - len(flush.taps)
        if dropped:
            log.info("ingest.output_gated", rows=dropped)

    def _housekeeping(self, conn: psycopg.Connection) -> None:
        now = time.monotonic()
        if now - self._last_erasure_check >= ERASURE_CHECK_S:
            self._last_erasure_check = now
            try:
                erased = run_pending_erasures(conn, now=datetime.now(UTC))
            except psycopg.Error as exc:
                # Never let an erasure problem hold up (or replay) the flush
                # just committed; the pass stays pending and is retried. Only
                # the error's class is logged: its text may quote row values.
                log.warning("ingest.erasure_failed", error=type(exc).__name__, retry_s=ERASURE_CHECK_S)
            else:
                if erased:
                    log.info("ingest.erasures_run", passes=erased)
        if now - self._last_heartbeat >= HEARTBEAT_S:
            repository.write_heartbeat(
                conn,
                service="ingest",
                instance=self.instance,
                started_at=self._started_at,
                stats={**self.stats.snapshot(), "sites": list(self.sites)},
            )
            self._last_heartbeat = now
        if now - self._last_prune >= LEDGER_PRUNE_S:
            repository.prune_ledger(conn)
            self._last_prune = now

    def _drop_derived_rows(self, flush: _Flush, exc: psycopg.Error) -> None:
        dropped = len(flush.presence) + len(flush.transitions) + len(flush.current) + len(flush.taps)
        self.stats.derived_rows_dropped += dropped
        log.error("ingest.derived_rows_dropped", rows=dropped, error=str(exc).splitlines()[0][:200])
        flush.presence, flush.transitions, flush.current, flush.taps, flush.statuses = [], [], {}, [], []
        flush.site_ticks = {}
        flush.events = {}

    def _commit(self, conn: psycopg.Connection, flush: _Flush) -> set[BatchKey]:
        """Everything of the flush in one transaction; then the in-memory ledger."""
        with self._ledger_lock:
            progress = self._ledger.preview(flush.batches)
        content = FlushContent(
            batches=flush.batches,
            progress=progress,
            presence=flush.presence,
            transitions=flush.transitions,
            current=list(flush.current.values()),
            taps=flush.taps,
            statuses=flush.statuses,
            dead_letters=flush.dead_letters,
            site_ticks=flush.site_ticks,
        )
        new = repository.commit_flush(conn, content, dead_letter_max_rows=self.settings.dead_letter_max_rows)
        with self._ledger_lock:
            self._ledger.commit(flush.batches)
        return new

    def _after_commit(self, flush: _Flush, new: set[BatchKey]) -> None:
        link = self._link
        assert link is not None
        committed_ms = int(self._clock() * 1000)
        stats = self.stats
        stats.flushes += 1
        stats.flush_sizes.append(len(flush.batches))
        stats.duplicates += len(flush.batches) - len(new)
        stats.rows += len(flush.presence)
        stats.transitions += len(flush.transitions)
        for key in new:
            stats.commit_latency_ms.append(committed_ms - flush.sent_at_ms[key])
        if flush.transitions and flush.decided_after_sent_ms:
            stats.transition_latency_ms.append(committed_ms - flush.decided_after_sent_ms)
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
        for site, site_events in flush.events.items():
            payload = events.encode(events.PresenceEvents(v=1, site=site, events=site_events))
            link.publish(topics.presence_events(site), payload, qos=1)

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
                            self._pending_directory = self._load_directory(conn)
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
            had_location = self._consents.allows(student_key, Purpose.LOCATION_TRACKING)
            self._consents.set(student_key, grants.get(student_key, ()))
            if had_location and not self._consents.allows(student_key, Purpose.LOCATION_TRACKING):
                self._forget.put(student_key)


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
