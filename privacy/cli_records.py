"""``campus student add|show|erase`` and ``campus export``: a student's record, end to end.

Registered by :func:`privacy.cli.register`; every command is audited.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from campus import db
from campus.cli import CommandError, print_json
from campus.settings import Settings
from privacy import erasure, export, personal
from privacy.cli import actor_of, add_command, day_arg, guardian_arg, keyring_of
from privacy.models import PersonalRecord

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("student", help="students' records (personal fields are encrypted)")
    ssub = sp.add_subparsers(dest="student_command", required=True)
    p = add_command(
        ssub, "add", _add, "enrol a student with encrypted personal fields; prints the student id"
    )
    p.add_argument("--site", help="the school (default: settings.site_id)")
    p.add_argument("--name", required=True, help="full name")
    p.add_argument("--dob", type=day_arg, help="date of birth, YYYY-MM-DD")
    p.add_argument("--year-group", type=int)
    p.add_argument(
        "--guardian",
        type=guardian_arg,
        action="append",
        default=[],
        help="'name|relationship|email|phone' (repeat for each guardian)",
    )
    add_command(
        ssub, "show", _show, "a student's personal fields in clear (audited)", student=True, json_out=True
    )
    p = add_command(
        ssub,
        "erase",
        _erase,
        "erase a leaver: shred personal fields, remove badges, consents and locations",
        student=True,
    )
    p.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    p = add_command(
        sub,
        "export",
        _export,
        "subject access: everything held about a student, and who accessed it",
        student=True,
    )
    p.add_argument("--format", choices=[f.value for f in export.ExportFormat], default="json")
    p.add_argument("--out", type=Path, required=True, help="directory to write the export into")


def _add(args: argparse.Namespace, settings: Settings) -> int:
    site = args.site or settings.site_id
    record = PersonalRecord(args.name, args.dob, tuple(args.guardian))
    with db.connect(settings.dsn) as conn:
        if conn.execute("SELECT 1 FROM sites WHERE site_id = %s", (site,)).fetchone() is None:
            raise CommandError(f"no site {site!r}: add it with `campus site add {site} --name ...`")
        student = personal.add_student(
            conn,
            keyring=keyring_of(settings),
            pseudonym_key=settings.pseudonym_key_bytes,
            site_id=site,
            record=record,
            year_group=args.year_group,
            actor=actor_of(args),
        )
        conn.commit()
    print(student.student_id)
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        record = personal.read_personal(
            conn,
            keyring=keyring_of(settings),
            student_id=args.student,
            actor=actor_of(args),
            purpose=args.why,
        )
        conn.commit()
    if record is None:
        print("no personal fields on file")
        return 0
    if args.json:
        print_json(
            {
                "full_name": record.full_name,
                "date_of_birth": record.date_of_birth,
                "guardians": [
                    {"name": g.name, "relationship": g.relationship, "email": g.email, "phone": g.phone}
                    for g in record.guardians
                ],
            }
        )
    else:
        print(f"name:          {record.full_name}")
        print(f"date of birth: {record.date_of_birth or '-'}")
        for g in record.guardians:
            contact = ", ".join(x for x in (g.email, g.phone) if x)
            print(
                f"guardian:      {g.name}{f' ({g.relationship})' if g.relationship else ''}{f': {contact}' if contact else ''}"
            )
    return 0


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        raise CommandError("erasing a student cannot be undone: add --yes to confirm")
    with db.connect(settings.dsn) as conn:
        report = erasure.erase_student(
            conn,
            student_id=args.student,
            actor=actor_of(args),
            now=datetime.now(UTC),
            recheck_s=settings.erasure_recheck_s,
            reason=args.why,
        )
        conn.commit()
    for table, n in report.removed.items():
        print(f"removed {table:18} {n}")
    for table, why in report.kept.items():
        print(f"kept    {table:18} {why}")
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn:
        result = export.subject_access(
            conn,
            keyring=keyring_of(settings),
            student_id=args.student,
            actor=actor_of(args),
            fmt=export.ExportFormat(args.format),
            out_dir=args.out,
            now=datetime.now(UTC),
            purpose=args.why,
        )
    counts = ", ".join(f"{name} {n}" for name, n in result.counts.items())
    print(f"{result.directory} ({len(result.files)} file(s)): {counts}")
    return 0
