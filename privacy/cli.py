"""Subcommands of privacy's core (registered by ``campus.cli``): consent, erasure, audit, keys, students, export.

Every command that reads or changes personal data writes an audit entry
as ``--actor`` (default: the operating-system user) in ``--role``. Expected
failures become one readable line and exit 1; checks (``audit verify``,
``consent verify-erasure``, ``keys status``) exit 1 when what they check
does not hold.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime

from campus import db
from campus.cli import CommandError, print_json
from campus.settings import Settings
from privacy import audit, consent, erasure, keys
from privacy.audit import AuditActor
from privacy.errors import PrivacyError
from privacy.keyring import MasterKeyring
from privacy.models import DeciderRole, Guardian, LawfulBasis, PurposeInfo, Role

__all__ = ["actor_of", "add_command", "day_arg", "guardian_arg", "keyring_of", "register", "student_id_arg"]

Handler = Callable[[argparse.Namespace, Settings], int]


def student_id_arg(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a student id (a UUID)") from None


def day_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def guardian_arg(text: str) -> Guardian:
    parts = [p.strip() or None for p in text.split("|")]
    if not parts[0] or len(parts) > 4:
        raise argparse.ArgumentTypeError(
            "a guardian is 'name|relationship|email|phone' (only the name is required)"
        )
    parts += [None] * (4 - len(parts))
    return Guardian(parts[0], parts[1], parts[2], parts[3])


def keyring_of(settings: Settings) -> MasterKeyring:
    return MasterKeyring.of(settings.master_key_bytes, settings.previous_master_key_bytes)


def actor_of(args: argparse.Namespace) -> AuditActor:
    return AuditActor(args.actor or getpass.getuser(), Role(args.role))


def _expected(handler: Handler) -> Handler:
    """Turn privacy's expected failures into one line (exit 1)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return handler(args, settings)
        except PrivacyError as exc:
            raise CommandError(str(exc)) from exc

    return run


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    help_text: str,
    *,
    student: bool = False,
    audited: bool = True,
    json_out: bool = False,
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    if student:
        p.add_argument("--student", type=student_id_arg, required=True, help="the student's id")
    if audited:
        p.add_argument("--actor", help="who is acting, for the audit log (default: your user name)")
        p.add_argument(
            "--role", default=Role.ADMIN.value, choices=[r.value for r in Role], help="default: admin"
        )
        p.add_argument("--purpose-of-access", dest="why", help="why, for the audit log")
    if json_out:
        p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_expected(handler))
    return p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from privacy import cli_records

    cp = sub.add_parser("consent", help="consent per student and purpose")
    csub = cp.add_subparsers(dest="consent_command", required=True)
    for verb in ("grant", "withdraw"):
        p = add_command(csub, verb, _decide, f"{verb} consent for a purpose", student=True, audited=False)
        p.add_argument(
            "--purpose", required=True, help="e.g. location_tracking (see `campus consent purposes`)"
        )
        p.add_argument(
            "--actor", required=True, help="who decided (a guardian's or the student's name, or staff)"
        )
        p.add_argument(
            "--role", required=True, choices=[r.value for r in DeciderRole], help="who is deciding"
        )
        p.add_argument("--note", help="how the decision was received (form, phone call)")
        p.set_defaults(granted=verb == "grant")
    add_command(csub, "show", _show, "current decision for every purpose", student=True, json_out=True)
    add_command(csub, "history", _history, "every decision, oldest first", student=True, json_out=True)
    add_command(
        csub, "purposes", _purposes, "purposes, lawful bases and descriptions", audited=False, json_out=True
    )
    pp = csub.add_parser("purpose", help="manage purposes")
    ppsub = pp.add_subparsers(dest="purpose_command", required=True)
    p = add_command(ppsub, "add", _purpose_add, "add a purpose (off for everyone until someone opts in)")
    p.add_argument("name")
    p.add_argument("--description", required=True, help="plain language: what the data is used for")
    p.add_argument("--lawful-basis", required=True, choices=[b.value for b in LawfulBasis])
    add_command(
        csub,
        "verify-erasure",
        _verify_erasure,
        "prove no location row is held without consent (exit 1 otherwise)",
        student=True,
        audited=False,
        json_out=True,
    )

    ep = sub.add_parser("erasure", help="erasure passes")
    esub = ep.add_subparsers(dest="erasure_command", required=True)
    add_command(esub, "run", _erasure_run, "run every erasure pass that is due now", audited=False)

    ap = sub.add_parser("audit", help="the audit log")
    asub = ap.add_subparsers(dest="audit_command", required=True)
    add_command(
        asub, "verify", _audit_verify, "check the hash chain (exit 1 if broken)", audited=False, json_out=True
    )
    add_command(
        asub, "who-accessed", _who_accessed, "every access to a student's data", student=True, json_out=True
    )

    kp = sub.add_parser("keys", help="master key rotation")
    ksub = kp.add_subparsers(dest="keys_command", required=True)
    add_command(
        ksub,
        "status",
        _keys_status,
        "what each master key wraps (exit 1 if any left to re-wrap)",
        audited=False,
        json_out=True,
    )
    p = add_command(ksub, "rotate", _keys_rotate, "re-wrap every key under the current master key")
    p.add_argument("--batch", type=int, default=keys.ROTATE_BATCH, help="keys per transaction")

    cli_records.register(sub)


# -- consent --------------------------------------------------------------------
def _decide(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        decision = consent.decide(
            conn,
            keyring=keyring_of(settings),
            student_id=args.student,
            purpose=args.purpose,
            granted=args.granted,
            actor_name=args.actor,
            role=DeciderRole(args.role),
            now=datetime.now(UTC),
            self_consent_age=settings.self_consent_age,
            recheck_s=settings.erasure_recheck_s,
            note=args.note,
        )
        conn.commit()
    state = "granted" if decision.granted else "withdrawn"
    print(f"{decision.purpose}: {state} (was {'granted' if decision.was_granted else 'off'})")
    if not decision.granted and decision.erased:
        rows = ", ".join(f"{t} {n}" for t, n in decision.erased.items())
        print(f"erased now: {rows}; a second pass runs in {settings.erasure_recheck_s} s")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        states = consent.show(conn, student_id=args.student, actor=actor_of(args), purpose=args.why)
        conn.commit()
    if args.json:
        print_json([{"purpose": s.purpose, "granted": s.granted, "updated_at": s.updated_at} for s in states])
    else:
        for s in states:
            since = f" since {s.updated_at:%Y-%m-%d %H:%M}" if s.updated_at else " (no decision yet)"
            print(f"{s.purpose:24} {'granted' if s.granted else 'off':8}{since}")
    return 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        events = consent.history(conn, student_id=args.student, actor=actor_of(args), purpose=args.why)
        conn.commit()
    if args.json:
        print_json([asdict(e) for e in events])
    else:
        for e in events:
            note = f"  ({e.note})" if e.note else ""
            print(
                f"{e.recorded_at:%Y-%m-%d %H:%M:%S}  {e.purpose:24} {'granted' if e.granted else 'withdrawn':9}"
                f" by {e.actor} ({e.actor_role}){note}"
            )
    return 0


def _purposes(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        purposes = consent.list_purposes(conn)
    if args.json:
        print_json([asdict(p) for p in purposes])
    else:
        for p in purposes:
            print(f"{p.purpose} (lawful basis: {p.lawful_basis})\n    {p.description}")
    return 0


def _purpose_add(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        consent.add_purpose(
            conn, info=PurposeInfo(args.name, args.description, args.lawful_basis), actor=actor_of(args)
        )
        conn.commit()
    print(f"purpose {args.name} added; off for every student until someone opts in")
    return 0


def _verify_erasure(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        check = erasure.check_erasure(conn, student_id=args.student)
    if args.json:
        print_json(
            {
                "ok": check.ok,
                "tables": [
                    {
                        "table": t.table,
                        "purpose": t.purpose,
                        "rows": t.rows,
                        "consent_held": t.consent_held,
                        "ok": t.ok,
                    }
                    for t in check.tables
                ],
                "unregistered_location_tables": check.unregistered_location,
                "unregistered_student_tables": check.unregistered_student,
                "unredacted_dead_letters": check.unredacted_dead_letters,
                "pending_passes": check.pending,
            }
        )
    else:
        for t in check.tables:
            held = "consent held" if t.consent_held else "no consent"
            print(f"{'ok  ' if t.ok else 'FAIL'} {t.table:18} {t.rows:6} rows  ({t.purpose}: {held})")
        for table, columns in {**check.unregistered_location, **check.unregistered_student}.items():
            print(
                f"FAIL {table:18} not in privacy.registry (columns {', '.join(columns)}): erasure would miss it"
            )
        print(
            f"{'ok  ' if not check.unredacted_dead_letters else 'FAIL'} dead_letters       "
            f"{check.unredacted_dead_letters} payloads not redacted"
        )
        if check.pending:
            print(f"     {check.pending} erasure pass(es) still scheduled for this student")
    return 0 if check.ok else 1


def _erasure_run(_args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        ran = erasure.run_pending_erasures(conn, now=datetime.now(UTC))
        conn.commit()
    print(f"{ran} erasure pass(es) run")
    return 0


# -- audit --------------------------------------------------------------------
def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        result = audit.verify(conn)
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "first_bad_seq": result.first_bad_seq,
                "problem": result.problem,
                "anchor_seq": result.anchor_seq,
                "head_seq": result.head_seq,
                "head_hash": result.head_hash.hex(),
            }
        )
    elif result.ok:
        print(
            f"audit log intact: {result.checked} entries checked (after anchor {result.anchor_seq}), "
            f"head {result.head_seq} {result.head_hash.hex()}"
        )
    else:
        print(f"audit log BROKEN at entry {result.first_bad_seq}: {result.problem}")
    return 0 if result.ok else 1


def _who_accessed(args: argparse.Namespace, settings: Settings) -> int:
    actor = actor_of(args)
    with db.connect(settings.dsn) as conn, conn.transaction():
        entries = audit.who_accessed(conn, student_id=args.student)
        actor.record(
            conn,
            action="audit.read",
            student_id=args.student,
            purpose=args.why,
            detail={"entries": len(entries)},
        )
    if args.json:
        print_json(
            [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "actor_role": e.actor_role,
                    "action": e.action,
                    "purpose": e.purpose,
                    "subject_count": e.subject_count,
                    "detail": e.detail,
                }
                for e in entries
            ]
        )
    else:
        for e in entries:
            bulk = f" (one of {e.subject_count} students)" if e.subject_count > 1 else ""
            why = f" - {e.purpose}" if e.purpose else ""
            print(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.actor} ({e.actor_role})  {e.action}{bulk}{why}")
    return 0


# -- keys -----------------------------------------------------------------------
def _keys_status(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        state = keys.status(conn, keyring=keyring_of(settings))
    if args.json:
        print_json({"current_master_key_id": state.current_id, "tables": state.counts, "left": state.left})
    else:
        print(f"current master key id {state.current_id}")
        for table, c in state.counts.items():
            print(
                f"  {table:18} current {c['current']:6}  previous {c['previous']:6}  unknown key {c['unknown']:6}"
            )
        print(
            "nothing left to re-wrap"
            if not state.left
            else f"{state.left} key(s) left to re-wrap: run `campus keys rotate`"
        )
    return 0 if not state.left else 1


def _keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch < 1:
        raise CommandError("--batch must be at least 1")
    with db.connect(settings.dsn) as conn:
        report = keys.rotate(conn, keyring=keyring_of(settings), actor=actor_of(args), batch=args.batch)
        conn.commit()
    for table, n in report.rewrapped.items():
        failed = report.failed.get(table, 0)
        print(
            f"{table:18} re-wrapped {n}"
            + (f", {failed} open with no configured master key" if failed else "")
        )
    if not report.ok:
        print("some keys are wrapped by a master key missing from master_key / previous_master_keys")
    return 0 if report.ok else 1
