"""``campus ingest run``."""

from __future__ import annotations

import argparse
import signal
import threading

from campus.settings import Settings
from ingest.service import IngestService

__all__ = ["register", "stop_on_signals"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="the ingest worker")
    isub = p.add_subparsers(dest="ingest_command", required=True)
    run = isub.add_parser("run", help="run one ingest worker until SIGTERM/SIGINT (flushes what it holds)")
    run.add_argument("--sites", help="comma-separated sites this worker serves (default: settings.site_id)")
    run.add_argument("--instance", help="worker name (default: host-pid)")
    run.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    run.set_defaults(handler=_run)


def stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def _run(args: argparse.Namespace, settings: Settings) -> int:
    sites = [s.strip() for s in args.sites.split(",")] if args.sites else None
    service = IngestService(settings, sites=sites, instance=args.instance)
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr="127.0.0.1")
    stop = threading.Event()
    stop_on_signals(stop)
    service.run(stop)
    return 0
