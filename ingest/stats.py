"""Counters of one ingest worker, exported to Prometheus and to its heartbeat row."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

__all__ = ["IngestStats", "register_for_export"]

_LATENCY_SAMPLES = 4096


@dataclass
class IngestStats:
    messages: int = 0
    batches: int = 0
    sightings: int = 0
    rows: int = 0
    duplicates: int = 0
    unknown_badges: int = 0
    consent_drops: int = 0
    attendance_taps: int = 0
    late_sightings: int = 0
    status_messages: int = 0
    transitions: int = 0
    flushes: int = 0
    store_errors: int = 0
    derived_rows_dropped: int = 0
    inbox_depth: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    # publish (gateway send time) -> committed, milliseconds
    commit_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_SAMPLES))
    # publish of the newest evidence -> committed zone change, milliseconds
    transition_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_SAMPLES))
    flush_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=256))

    def percentile(self, q: float, *, of: str = "commit_latency_ms") -> float | None:
        samples: list[float] = sorted(getattr(self, of))
        if not samples:
            return None
        return samples[min(len(samples) - 1, int(q * len(samples)))]

    def snapshot(self) -> dict[str, object]:
        return {
            "messages": self.messages,
            "batches": self.batches,
            "sightings": self.sightings,
            "rows": self.rows,
            "duplicates": self.duplicates,
            "unknown_badges": self.unknown_badges,
            "consent_drops": self.consent_drops,
            "attendance_taps": self.attendance_taps,
            "late_sightings": self.late_sightings,
            "status_messages": self.status_messages,
            "transitions": self.transitions,
            "flushes": self.flushes,
            "store_errors": self.store_errors,
            "derived_rows_dropped": self.derived_rows_dropped,
            "inbox_depth": self.inbox_depth,
            "rejected": dict(self.rejected),
            "commit_p50_ms": self.percentile(0.50),
            "commit_p99_ms": self.percentile(0.99),
            "transition_p50_ms": self.percentile(0.50, of="transition_latency_ms"),
            "transition_p99_ms": self.percentile(0.99, of="transition_latency_ms"),
        }


class _Collector(Collector):
    def __init__(self) -> None:
        self._workers: dict[str, IngestStats] = {}
        self._lock = threading.Lock()

    def add(self, instance: str, stats: IngestStats) -> None:
        with self._lock:
            self._workers[instance] = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        with self._lock:
            workers = dict(self._workers)
        simple = {
            "messages": "MQTT messages received",
            "batches": "verified new batches",
            "sightings": "sightings in verified new batches",
            "rows": "presence rows committed",
            "duplicates": "redelivered or replayed batches absorbed",
            "unknown_badges": "sightings of identifiers no enrolled badge matches",
            "consent_drops": "sightings dropped because the family has not opted in",
            "attendance_taps": "door taps kept as attendance evidence",
            "late_sightings": "sightings too old for live tracking (backfilled to history when they claim a zone)",
            "transitions": "zone changes committed",
            "flushes": "committed transactions",
            "store_errors": "failed commits (retried)",
            "derived_rows_dropped": "rows lost to a statement that kept failing (a defect: investigate)",
        }
        for name, doc in simple.items():
            family = CounterMetricFamily(f"campus_ingest_{name}", doc, labels=["instance"])
            for instance, stats in workers.items():
                family.add_metric([instance], getattr(stats, name))
            yield family
        rejected = CounterMetricFamily(
            "campus_ingest_rejected", "messages rejected, by reason", labels=["instance", "reason"]
        )
        lag = GaugeMetricFamily(
            "campus_ingest_commit_p99_ms", "p99 publish-to-commit latency", labels=["instance"]
        )
        depth = GaugeMetricFamily(
            "campus_ingest_inbox_depth", "messages waiting in the inbox", labels=["instance"]
        )
        for instance, stats in workers.items():
            for reason, count in stats.rejected.items():
                rejected.add_metric([instance, reason], count)
            p99 = stats.percentile(0.99)
            if p99 is not None:
                lag.add_metric([instance], p99)
            depth.add_metric([instance], stats.inbox_depth)
        yield rejected
        yield lag
        yield depth


_collector: _Collector | None = None


def register_for_export(instance: str, stats: IngestStats) -> None:
    global _collector  # noqa: PLW0603 - one collector per process, registered on first use
    if _collector is None:
        _collector = _Collector()
        REGISTRY.register(_collector)
    _collector.add(instance, stats)
