"""Encrypted backups on the real PostgreSQL + TimescaleDB: create, verify, restore, crypto-shredding."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from campus.cli import main
from campus.settings import Settings
from privacy import backup, backup_keys, erasure, personal
from privacy.audit import AuditActor
from privacy.backup_repository import normalise_session, table_digests
from privacy.errors import DataShreddedError
from privacy.keyring import MasterKeyring
from privacy.models import PersonalRecord, Role
from privacy.ops_errors import BackupError
from privacy.retention_repository import list_tables
from tests.builders import add_site
from tests.servers import PostgresCluster

pytestmark = pytest.mark.servers

ADMIN = AuditActor("a.admin", Role.ADMIN)
MARKER = "Zebedee Quillfeather"


@pytest.fixture
def empty_database(pg: PostgresCluster) -> Iterator[str]:
    name = f"empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    yield pg.admin_dsn(name)
    pg.drop_database(name)


def populate(conn: psycopg.Connection, settings: Settings, *, students: int = 2) -> list[uuid.UUID]:
    add_site(conn, settings.site_id)
    keyring = MasterKeyring.of(settings.master_key_bytes)
    ids = []
    for i in range(students):
        enrolled = personal.add_student(
            conn,
            keyring=keyring,
            pseudonym_key=settings.pseudonym_key_bytes,
            site_id=settings.site_id,
            record=PersonalRecord(f"{MARKER} {i}"),
            year_group=7,
            actor=ADMIN,
        )
        ids.append(enrolled.student_id)
        conn.execute(
            "INSERT INTO presence SELECT now() - g * interval '10 minutes', %s, %s, 'r1', 'ble', 0.5, 'gw-1' "
            "FROM generate_series(1, 200) g",
            (settings.site_id, enrolled.student_key),
        )
    return ids


def digests(dsn: str) -> dict[str, object]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        normalise_session(conn)
        return dict(table_digests(conn, list_tables(conn)))


def test_an_archive_round_trips_and_holds_no_plaintext(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    populate(conn, settings)
    out = tmp_path / "campus.backup"
    manifest = backup.create_backup(settings, out=out)

    assert manifest.tables["presence"].rows == 400
    assert manifest.timescaledb is not None and manifest.postgres_major == 15
    raw = out.read_bytes()
    assert MARKER.encode() not in raw and settings.site_id.encode() not in raw and b"PGDMP" not in raw
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup_keys.backup_key_path(settings).stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(BackupError, match="already exists"):
        backup.create_backup(settings, out=out)

    outcome = backup.verify_backup(settings, archive=out)
    assert outcome.ok, outcome.problems
    assert outcome.notes == (
        "student_data_keys: 2 keys when archived, 2 restored from the data-key store (0 destroyed since by erasure)",
    )


def test_restore_refuses_a_database_that_is_not_empty_and_fills_an_empty_one(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path, empty_database: str
) -> None:
    populate(conn, settings, students=1)
    out = tmp_path / "campus.backup"
    backup.create_backup(settings, out=out)

    before = digests(settings.dsn)
    with pytest.raises(BackupError, match="not empty"):
        backup.restore_backup(settings, archive=out, into_dsn=settings.dsn)
    assert digests(settings.dsn) == before  # refused: nothing changed

    outcome = backup.restore_backup(settings, archive=out, into_dsn=empty_database)
    assert outcome.data_keys == 1 and outcome.unreadable_students == 0
    assert digests(empty_database) == before
    with psycopg.connect(empty_database, autocommit=True) as restored:
        # TimescaleDB left restore mode and presence is a hypertable again.
        assert restored.execute("SHOW timescaledb.restoring").fetchone() == ("off",)
        assert restored.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'presence'"
        ).fetchone() == (1,)


def test_a_damaged_archive_fails_verification_and_restores_nothing(
    conn: psycopg.Connection,
    settings: Settings,
    tmp_path: Path,
    empty_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(conn, settings, students=1)
    out = tmp_path / "campus.backup"
    backup.create_backup(settings, out=out)
    damaged = tmp_path / "damaged.backup"
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(out.read_bytes()[: len(raw) - 100])

    with pytest.raises(BackupError, match="fails authentication"):
        backup.restore_backup(settings, archive=damaged, into_dsn=empty_database)
    with pytest.raises(BackupError, match="truncated"):
        backup.verify_backup(settings, archive=truncated)
    assert digests(empty_database) == {}
    with psycopg.connect(settings.dsn, autocommit=True) as c:
        assert c.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'campus_verify_%'"
        ).fetchone() == (0,)

    monkeypatch.setenv("CAMPUS_DATABASE_URL", settings.dsn)
    monkeypatch.setenv("CAMPUS_ENVIRONMENT", "test")
    monkeypatch.setenv("CAMPUS_DATA_DIR", str(settings.data_dir))
    assert main(["backup", "verify", str(damaged), "--actor", "t.tester"]) == 1
    assert "fails authentication" in capsys.readouterr().err
    assert main(["backup", "verify", str(out), "--actor", "t.tester"]) == 0
    assert "verified:" in capsys.readouterr().out
    # Each backup command is audited as a bulk read of every student.
    assert conn.execute(
        "SELECT actor, subject_count FROM audit_log WHERE action = 'backup.verify'"
    ).fetchall() == [("t.tester", 1)]


def test_a_student_erased_after_a_backup_stays_unreadable_in_it(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path, empty_database: str
) -> None:
    kept, erased = populate(conn, settings)
    out = tmp_path / "campus.backup"
    backup.create_backup(settings, out=out)

    erasure.erase_student(conn, student_id=erased, actor=ADMIN, now=datetime.now(UTC), recheck_s=60)
    # The sweeper keeps the data-key store in step with shredding (every erasure_poll_interval_s).
    assert backup_keys.refresh_data_keys(conn, settings) is True
    assert backup_keys.refresh_data_keys(conn, settings) is False  # unchanged: not rewritten

    outcome = backup.restore_backup(settings, archive=out, into_dsn=empty_database)
    assert (outcome.data_keys, outcome.unreadable_students) == (1, 1)
    keyring = MasterKeyring.of(settings.master_key_bytes)
    with psycopg.connect(empty_database, autocommit=True) as restored:
        record = personal.decrypt_personal(restored, keyring=keyring, student_id=kept)
        assert record is not None and record.full_name == f"{MARKER} 0"
        with pytest.raises(DataShreddedError):
            personal.decrypt_personal(restored, keyring=keyring, student_id=erased)
        # Everything else is the archive's content, the erased student's ciphertext included (unreadable).
        assert restored.execute("SELECT count(*) FROM student_personal WHERE student_id = %s", (erased,)).fetchone()[
            0
        ] > 0  # fmt: skip

    verified = backup.verify_backup(settings, archive=out)
    assert verified.ok, verified.problems
    assert verified.notes == (
        "student_data_keys: 2 keys when archived, 1 restored from the data-key store (1 destroyed since by erasure)",
    )
    assert datetime.now(UTC) - verified.restore.manifest.created_at < timedelta(minutes=5)
