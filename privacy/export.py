"""Subject access: everything held about one student, and who accessed it, as JSON or CSV files.

The export is audited (``export.subject``) in the transaction that reads the
data, before the reads, so the export lists its own access record. Files are
written to a private temporary directory and moved into place only when
complete; if anything fails the transaction rolls back (no audit entry, no
files). The directory is mode 0700 and its files 0600: they hold personal
data in clear and are meant to be handed to the family, then deleted.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import psycopg

from privacy import audit_repository, repository
from privacy.audit import AuditActor
from privacy.errors import DataShreddedError, InvalidInputError
from privacy.keyring import MasterKeyring
from privacy.personal import decrypt_personal, require_student
from privacy.registry import LOCATION_TABLES

__all__ = ["ExportFormat", "ExportResult", "subject_access"]

ABOUT: Final = (
    "Everything this school's presence system holds about the student, and every recorded access "
    "to it. 'student' is the enrolment (the pseudonym is what location records carry instead of "
    "the student's id); 'personal' the encrypted fields, shown in clear; 'consents' the current "
    "decisions and 'consent_history' every decision; the location tables are present only while "
    "a consent allows them; 'audit' lists who read or changed this data, when and why."
)


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class ExportResult:
    directory: Path
    files: tuple[Path, ...]
    counts: dict[str, int]


def _plain(value: Any) -> Any:
    """A JSON- and CSV-friendly copy: times as ISO 8601, ids as text, nested values alike."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | StrEnum):
        return str(value)
    return value.hex() if isinstance(value, bytes) else value


def _sections(
    conn: psycopg.Connection, keyring: MasterKeyring, student_id: UUID
) -> dict[str, list[dict[str, Any]]]:
    row = require_student(conn, student_id)
    sections: dict[str, list[dict[str, Any]]] = {
        "student": [
            {
                "student_id": row.student_id,
                "site_id": row.site_id,
                "year_group": row.year_group,
                "enrolled_at": row.created_at,
                "erased_at": row.erased_at,
                "pseudonym": row.student_key,
            }
        ]
    }
    try:
        record = decrypt_personal(conn, keyring=keyring, student_id=student_id)
    except DataShreddedError:
        record = None
    if record is not None:
        sections["personal"] = [{"full_name": record.full_name, "date_of_birth": record.date_of_birth}]
        sections["guardians"] = [asdict(g) for g in record.guardians]
    else:
        sections["personal"], sections["guardians"] = [], []
    sections["consents"] = [asdict(s) for s in repository.consent_states(conn, student_id)]
    sections["consent_history"] = [asdict(e) for e in repository.consent_history(conn, student_id)]
    sections["badges"] = repository.badges_of(conn, student_id)
    for table in LOCATION_TABLES:
        sections[table.table] = list(repository.location_rows(conn, table, row.student_key))
    sections["audit"] = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "actor_role": e.actor_role,
            "action": e.action,
            "purpose": e.purpose,
            "students_in_entry": e.subject_count,
            "detail": json.dumps(e.detail, sort_keys=True),
        }
        for e in audit_repository.entries_for_student(conn, student_id)
    ]
    return {name: [_plain(r) for r in rows] for name, rows in sections.items()}


def subject_access(
    conn: psycopg.Connection,
    *,
    keyring: MasterKeyring,
    student_id: UUID,
    actor: AuditActor,
    fmt: ExportFormat,
    out_dir: Path,
    now: datetime,
    purpose: str | None = None,
) -> ExportResult:
    """Write the export under ``out_dir`` (a new subdirectory); audited as ``export.subject``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"--out {out_dir} is a file, not a directory")
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = out_dir / f"subject-access-{student_id}-{now.strftime('%Y%m%dT%H%M%S')}"
    if target.exists():
        raise InvalidInputError(f"{target} exists already")
    staging = Path(tempfile.mkdtemp(prefix=".subject-access-", dir=out_dir))  # mode 0700
    try:
        with conn.transaction():
            actor.record(
                conn,
                action="export.subject",
                student_id=student_id,
                purpose=purpose,
                detail={"format": str(fmt)},
            )
            sections = _sections(conn, keyring, student_id)
            files = _write(staging, sections, fmt=fmt, now=now)
        # Committed: the access is on record, so the files may now appear.
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(
        target, tuple(target / f.name for f in files), {name: len(rows) for name, rows in sections.items()}
    )


def _private_text(path: Path) -> Any:
    """A new file readable by its owner only (no umask games: the API may call this from threads)."""
    return os.fdopen(
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", newline="", encoding="utf-8"
    )


def _write(
    staging: Path, sections: dict[str, list[dict[str, Any]]], *, fmt: ExportFormat, now: datetime
) -> list[Path]:
    if fmt is ExportFormat.JSON:
        path = staging / "subject-access.json"
        with _private_text(path) as handle:
            json.dump(
                {"about": ABOUT, "exported_at": now.isoformat(), **sections},
                handle,
                indent=2,
                ensure_ascii=False,
            )
        return [path]
    about = staging / "ABOUT.txt"
    with _private_text(about) as handle:
        handle.write(f"{ABOUT}\n\nExported at {now.isoformat()}; one CSV file per section.\n")
    files = [about]
    for name, rows in sections.items():
        path = staging / f"{name}.csv"
        columns: list[str] = []
        for r in rows:
            columns += [c for c in r if c not in columns]
        with _private_text(path) as handle:
            writer = csv.DictWriter(handle, fieldnames=columns or ["(none)"])
            writer.writeheader()
            writer.writerows(rows)
        files.append(path)
    return files
