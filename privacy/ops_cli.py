# Commands talk to a person on stdout, as every cli.py does (T201 is ignored for **/cli.py).
# ruff: noqa: T201
"""``campus retention``, ``campus backup``, ``campus breach`` and ``campus privacy report``.

Checks exit non-zero when what they check does not hold: ``retention check``
(a row past its window, a table without a rule), ``backup verify`` (a
difference after the round trip), ``breach scan`` (new findings).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from campus import db
from campus.cli import CommandError, print_json
from campus.settings import Settings
from privacy.models import Role
from privacy.ops_errors import OpsError

__all__ = ["register"]


def _who(p: argparse.ArgumentParser, *, default_role: Role = Role.ADMIN) -> None:
    p.add_argument("--actor", default=None, help="who is acting, for the audit log (default: the OS user)")
    p.add_argument(
        "--role", default=default_role.value, choices=[r.value for r in Role], help="the actor's role"
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_retention(sub)
    _register_backup(sub)
    _register_breach(sub)
    pr = sub.add_parser("privacy", help="the data document")
    prsub = pr.add_subparsers(dest="privacy_command", required=True)
    p = prsub.add_parser("report", help="what is held, why, where, who reads it, how long (docs/DATA.md)")
    p.add_argument("--format", choices=["md", "json"], default="md")
    p.set_defaults(handler=_privacy_report)


def _register_retention(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ret = sub.add_parser("retention", help="the retention schedule, sweeps and the retention check")
    rsub = ret.add_subparsers(dest="retention_command", required=True)
    p = rsub.add_parser("schedule", help="print how long each kind of data is kept")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_schedule)
    p = rsub.add_parser(
        "sweep", help="remove everything past its window once and record the run; exit 1 if a table failed"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_sweep)
    p = rsub.add_parser("check", help="exit 1 if any row outlived its window or any table has no rule")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_check)


def _register_backup(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bk = sub.add_parser("backup", help="encrypted backups")
    bsub = bk.add_subparsers(dest="backup_command", required=True)
    p = bsub.add_parser("create", help="write an encrypted archive of the database")
    p.add_argument("--out", type=Path, required=True, help="the archive file to create")
    _who(p)
    p.set_defaults(handler=_backup_create)
    p = bsub.add_parser("restore", help="restore an archive into an EMPTY database")
    p.add_argument("archive", type=Path)
    p.add_argument("--into", required=True, metavar="DSN", help="the empty target database")
    _who(p)
    p.set_defaults(handler=_backup_restore)
    p = bsub.add_parser(
        "verify", help="restore into a scratch database and compare; exit 1 on any difference"
    )
    p.add_argument("archive", type=Path)
    _who(p)
    p.set_defaults(handler=_backup_verify)


def _register_breach(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    br = sub.add_parser("breach", help="unusual-access findings and personal-data breach records")
    brsub = br.add_subparsers(dest="breach_command", required=True)
    p = brsub.add_parser("scan", help="scan the audit log once; exit 1 if there are new findings")
    p.set_defaults(handler=_breach_scan)
    p = brsub.add_parser("findings", help="list recent findings")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_breach_findings)
    p = brsub.add_parser("list", help="breach records with their deadlines")
    p.add_argument("--all", action="store_true", help="include closed breaches")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_breach_list)
    p = brsub.add_parser("open", help="record a breach (starts the regulator's 72-hour clock)")
    p.add_argument("--summary", required=True)
    p.add_argument(
        "--aware-at", type=_timestamp, default=None, help="ISO time the school became aware (default now)"
    )
    p.add_argument("--finding", type=int, action="append", default=[], help="a finding id (repeatable)")
    _who(p, default_role=Role.DPO)
    p.set_defaults(handler=_breach_open)
    p = brsub.add_parser("notify", help="record that the regulator and/or families were notified")
    p.add_argument("breach_id", type=int)
    p.add_argument("--regulator", action="store_true")
    p.add_argument("--families", action="store_true")
    p.add_argument("--at", type=_timestamp, default=None, help="ISO time of the notification (default now)")
    _who(p, default_role=Role.DPO)
    p.set_defaults(handler=_breach_notify)
    p = brsub.add_parser("close", help="close a breach with a note of how it was handled")
    p.add_argument("breach_id", type=int)
    p.add_argument("--note", required=True)
    _who(p, default_role=Role.DPO)
    p.set_defaults(handler=_breach_close)


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time (2026-11-23T09:30+00:00)"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add +00:00 or Z)")
    return value


def _actor(args: argparse.Namespace) -> tuple[str, str]:
    return (args.actor or getpass.getuser(), args.role)


def _now() -> datetime:
    return datetime.now(UTC)


# -- retention -----------------------------------------------------------------
def _schedule(args: argparse.Namespace, settings: Settings) -> int:
    from privacy.report import build_report

    rows = build_report(settings)["data"]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        within = f" (+ up to {r['removed_within']})" if r["removed_within"] else ""
        print(f"{r['kind']:34} {r['table'] or '(no table yet)':20} {r['kept']}{within}")
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    from privacy.sweeper import sweep

    with db.connect(settings.dsn, autocommit=True, application_name="campus-retention") as conn:
        report = sweep(conn, settings=settings, now=_now())
    if args.json:
        print_json(report.as_dict())
        return 1 if report.failed else 0
    for table, count in sorted(report.removed.items()):
        print(
            f"{table:22} {count} rows removed{' (more left for the next sweep)' if table in report.unfinished else ''}"
        )
    for table, why in sorted(report.skipped.items()):
        print(f"{table:22} skipped: {why}")
    print(f"sweep {report.run_id}: {sum(report.removed.values())} rows removed")
    return 1 if report.failed else 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from privacy.retention import humanize
    from privacy.sweeper import check

    with db.connect(settings.dsn, autocommit=True) as conn:
        report = check(conn, settings=settings, now=_now())
    if args.json:
        print_json(report.as_dict())
    else:
        for s in report.statuses:
            state = "OVERDUE" if s.overdue_rows else "ok"
            window = humanize(s.window) if s.window else "-"
            print(f"{s.table or '(none)':22} {state:8} kept {window}{f'; {s.note}' if s.note else ''}")
        for problem in report.problems:
            print(f"PROBLEM {problem}")
        print("retention holds" if report.ok else f"retention does NOT hold: {len(report.problems)} problems")
    return 0 if report.ok else 1


# -- backups -------------------------------------------------------------------
def _audit_backup(
    settings: Settings, args: argparse.Namespace, *, action: str, detail: dict[str, Any]
) -> None:
    """An archive holds every student's records (fields encrypted): audited as a bulk read."""
    from privacy import audit

    actor, role = _actor(args)
    with db.connect(settings.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM students").fetchone()
        audit.record(
            conn,
            actor=actor,
            actor_role=role,
            action=action,
            subject_count=int(row[0]) if row else 0,
            purpose="backup",
            detail=detail,
        )


def _backup_create(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import backup

    try:
        manifest = backup.create_backup(settings, out=args.out)
    except OpsError as exc:
        raise CommandError(str(exc)) from exc
    _audit_backup(settings, args, action="backup.create", detail={"tables": len(manifest.tables)})
    print(f"{args.out}: {len(manifest.tables)} tables, {manifest.total_rows} rows, encrypted")
    return 0


def _backup_restore(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import backup

    try:
        outcome = backup.restore_backup(settings, archive=args.archive, into_dsn=args.into)
    except OpsError as exc:
        raise CommandError(str(exc)) from exc
    _audit_backup(settings, args, action="backup.restore", detail={"tables": len(outcome.manifest.tables)})
    print(
        f"restored {len(outcome.manifest.tables)} tables ({outcome.manifest.total_rows} rows) from an archive of "
        f"{outcome.manifest.created_at:%Y-%m-%d %H:%M} UTC; {outcome.data_keys} data keys from the key store; "
        f"{outcome.unreadable_students} students' fields unreadable (erased since)"
    )
    return 0


def _backup_verify(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import backup

    try:
        outcome = backup.verify_backup(settings, archive=args.archive)
    except OpsError as exc:
        raise CommandError(str(exc)) from exc
    _audit_backup(settings, args, action="backup.verify", detail={"ok": outcome.ok})
    for note in outcome.notes:
        print(note)
    for problem in outcome.problems:
        print(f"PROBLEM {problem}")
    tables = len(outcome.restore.manifest.tables)
    print(f"verified: {tables} tables match the manifest" if outcome.ok else "verification FAILED")
    return 0 if outcome.ok else 1


# -- breach --------------------------------------------------------------------
def _breach_scan(_args: argparse.Namespace, settings: Settings) -> int:
    from privacy import breach_service

    with db.connect(settings.dsn, autocommit=True) as conn:
        try:
            outcome = breach_service.scan_and_publish(conn, settings=settings, now=_now())
        except OpsError as exc:
            raise CommandError(str(exc)) from exc
    print(f"{len(outcome.new_findings)} new findings, {outcome.published} published")
    return 1 if outcome.new_findings else 0


def _breach_findings(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import breach_repository

    with db.connect(settings.dsn, autocommit=True) as conn:
        findings = breach_repository.list_findings(conn, limit=args.limit)
    if args.json:
        print_json([dataclasses.asdict(f) for f in findings])
        return 0
    for f in findings:
        print(f"#{f.finding_id} {f.detected_at:%Y-%m-%d %H:%M} {f.rule:13} {f.summary}")
    return 0


def _breach_dict(b: Any, now: datetime) -> dict[str, Any]:
    from privacy.breach import status_lines

    regulator, families = status_lines(b, now=now)
    return {**dataclasses.asdict(b), "regulator": regulator, "families": families}


def _breach_list(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import breach_repository
    from privacy.breach import status_lines

    now = _now()
    with db.connect(settings.dsn, autocommit=True) as conn:
        records = breach_repository.list_breaches(conn, include_closed=args.all)
    if args.json:
        print(json.dumps([_breach_dict(b, now) for b in records], indent=2, default=str))
        return 0
    if not records:
        print("no open breaches" if not args.all else "no breaches")
    for b in records:
        regulator, families = status_lines(b, now=now)
        print(f"#{b.breach_id} [{b.status}] aware {b.aware_at:%Y-%m-%d %H:%M} UTC: {b.summary}")
        print(f"    regulator: {regulator}")
        print(f"    families:  {families}")
    return 0


def _breach_open(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import breach_service

    actor, role = _actor(args)
    now = _now()
    with db.connect(settings.dsn, autocommit=True) as conn:
        try:
            record = breach_service.open_breach(
                conn,
                summary=args.summary,
                aware_at=args.aware_at or now,
                now=now,
                actor=actor,
                actor_role=role,
                finding_ids=args.finding,
            )
        except OpsError as exc:
            raise CommandError(str(exc)) from exc
    print(
        f"breach #{record.breach_id} opened; notify the regulator by {record.regulator_deadline:%Y-%m-%d %H:%M} UTC"
    )
    return 0


def _breach_notify(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import breach_service

    actor, role = _actor(args)
    with db.connect(settings.dsn, autocommit=True) as conn:
        try:
            breach_service.record_notification(
                conn,
                breach_id=args.breach_id,
                regulator=args.regulator,
                families=args.families,
                at=args.at or _now(),
                actor=actor,
                actor_role=role,
            )
        except OpsError as exc:
            raise CommandError(str(exc)) from exc
    print(f"breach #{args.breach_id}: notification recorded")
    return 0


def _breach_close(args: argparse.Namespace, settings: Settings) -> int:
    from privacy import breach_service

    actor, role = _actor(args)
    with db.connect(settings.dsn, autocommit=True) as conn:
        try:
            breach_service.close_breach(
                conn, breach_id=args.breach_id, note=args.note, now=_now(), actor=actor, actor_role=role
            )
        except OpsError as exc:
            raise CommandError(str(exc)) from exc
    print(f"breach #{args.breach_id} closed")
    return 0


# -- the data document ---------------------------------------------------------
def _privacy_report(args: argparse.Namespace, settings: Settings) -> int:
    from privacy.report import build_report, render_markdown

    report = build_report(settings)
    if args.format == "json":
        print_json(report)
    else:
        print(render_markdown(report), end="")
    return 0
