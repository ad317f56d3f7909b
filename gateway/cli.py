"""``campus gateway enroll``, ``campus gateway revoke`` and ``campus gateway run``."""

from __future__ import annotations

import argparse
from pathlib import Path

from campus import db
from campus.cli import CommandError
from campus.settings import Settings
from gateway import enrollment

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gw = sub.add_parser("gateway", help="reader gateways")
    gsub = gw.add_subparsers(dest="gateway_command", required=True)
    p = gsub.add_parser("enroll", help="make a gateway's key pair, register it, write its config file")
    p.add_argument("gateway_id")
    p.add_argument("--site", help="site id (default: settings.site_id)")
    p.add_argument("--kind", default="ble", choices=["ble", "rfid", "ble+rfid"])
    p.add_argument("--zone", help="zone the reader is installed in")
    p.add_argument("--x", type=float)
    p.add_argument("--y", type=float)
    p.add_argument("--floor", type=int)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for <id>.key and <id>.toml (default: <data_dir>/gateways)",
    )
    p.add_argument("--public-key", help="register this hex Ed25519 public key instead of making a key pair")
    p.set_defaults(handler=_enroll)
    p = gsub.add_parser("revoke", help="revoke a gateway's key: its messages are rejected from now on")
    p.add_argument("gateway_id")
    p.set_defaults(handler=_revoke)
    p = gsub.add_parser("run", help="run one reader gateway from its configuration file (Ctrl-C stops it)")
    p.add_argument(
        "--config", type=Path, required=True, help="the gateway's TOML file (see gateway/config.py)"
    )
    p.set_defaults(handler=_run)


def _enroll(args: argparse.Namespace, settings: Settings) -> int:
    site = args.site or settings.site_id
    placement = enrollment.GatewayPlacementSpec(
        kind=args.kind, zone_id=args.zone, x=args.x, y=args.y, floor=args.floor
    )
    with db.connect(settings.dsn) as conn, conn.transaction():
        if conn.execute("SELECT 1 FROM sites WHERE site_id = %s", (site,)).fetchone() is None:
            raise CommandError(
                f"unknown site {site!r}: add it first with 'campus site add {site} --name ...'"
            )
        if args.public_key:
            try:
                public_key = bytes.fromhex(args.public_key)
                enrollment.register_public_key(
                    conn, gateway_id=args.gateway_id, site_id=site, public_key=public_key, placement=placement
                )
            except ValueError as exc:
                raise CommandError(f"--public-key: {exc}") from exc
            print(f"gateway {args.gateway_id} registered for site {site}")
            return 0
        result = enrollment.enroll(
            conn,
            gateway_id=args.gateway_id,
            site_id=site,
            placement=placement,
            out_dir=args.out or settings.data_dir / "gateways",
            master_key=settings.master_key_bytes,
            broker_host=settings.mqtt_host,
            broker_port=settings.mqtt_port,
        )
    print(
        f"gateway {result.gateway_id} enrolled for site {site}: config {result.config_file}, key {result.key_file}"
    )
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn, conn.transaction():
        if not enrollment.revoke(conn, gateway_id=args.gateway_id):
            raise CommandError(f"no active gateway {args.gateway_id!r}")
    print(f"gateway {args.gateway_id} revoked")
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one gateway until SIGINT/SIGTERM; flush what is aggregated on the way out."""
    import signal
    import sqlite3
    import threading

    from gateway.config import ConfigError, load_config
    from gateway.errors import BackendError
    from gateway.service import build_gateway

    try:
        config = load_config(args.config)
        running = build_gateway(config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(
        f"gateway {config.gateway_id} of site {config.site}: {config.scanner.kind} scanner, "
        f"broker {config.broker_address()}, journal {config.journal.path}",
        flush=True,
    )
    try:
        running.gateway.start()
        running.gateway.run(stop)
    except BackendError as exc:
        raise CommandError(str(exc)) from exc
    except sqlite3.Error as exc:  # the journal's disk is full or gone: nothing more can be kept safe
        raise CommandError(f"journal {config.journal.path}: {exc}") from exc
    finally:
        running.close()
    stats = running.gateway.stats
    print(
        f"gateway {config.gateway_id} stopped: {stats.sightings} sightings, {stats.taps} taps, {stats.batches} batches"
    )
    return 0
