"""The audit log on the real database: append-only, hash-chained, verified, anchored, answering who accessed.

Tampering is simulated the way an insider with database rights would do it:
with triggers switched off (``session_replication_role = replica``).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from campus.settings import Settings
from privacy import audit
from privacy.errors import AuditError
from tests.builders import add_site
from tests.integration.privacy_support import run_cli

pytestmark = pytest.mark.servers


def fill(conn: psycopg.Connection, n: int, *, student: uuid.UUID | None = None) -> list[int]:
    return [
        audit.record(
            conn,
            actor=f"user{i % 3}",
            actor_role="front_office",
            action="personal.read",
            student_id=student or uuid.uuid4(),
            purpose="phone call",
            detail={"fields": ["full_name"], "i": i},
        )
        for i in range(n)
    ]


def tamper(database_url: str, sql: str, params: tuple[object, ...] = ()) -> None:
    with psycopg.connect(database_url, autocommit=True) as raw:
        raw.execute("SET session_replication_role = replica")
        raw.execute(sql, params)


def test_entries_chain_and_verify(conn: psycopg.Connection) -> None:
    seqs = fill(conn, 25)
    assert seqs == list(range(1, 26))
    result = audit.verify(conn)
    assert result.ok and result.checked == 25 and result.head_seq == 25


def test_the_database_refuses_changes(conn: psycopg.Connection) -> None:
    fill(conn, 3)
    for sql in (
        "UPDATE audit_log SET actor = 'x' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 3",
        "TRUNCATE audit_log CASCADE",
        "UPDATE audit_chain SET last_seq = 1",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql)
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        conn.execute(
            """INSERT INTO audit_log (seq, at, actor, actor_role, action, prev_hash, hash)
               VALUES (9, now(), 'x', 'admin', 'a.b', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))"""
        )
    assert audit.verify(conn).ok


def test_edited_row_fails_verify_and_is_named(
    conn: psycopg.Connection, database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    fill(conn, 10)
    assert run_cli(settings, monkeypatch, capsys, "audit", "verify").code == 0
    tamper(database_url, "UPDATE audit_log SET purpose = 'routine check' WHERE seq = 6")
    result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 6
    out = run_cli(settings, monkeypatch, capsys, "audit", "verify")
    assert out.code == 1 and "entry 6" in out.out and "edited" in out.out


def test_rewritten_row_with_recomputed_hash_is_named(conn: psycopg.Connection, database_url: str) -> None:
    fill(conn, 10)
    row = conn.execute("SELECT * FROM audit_log WHERE seq = 4").fetchone()
    assert row is not None
    from privacy.audit_chain import canonical, entry_hash

    forged_at = row[1] - timedelta(days=1)
    digest = entry_hash(
        bytes(row[9]),
        canonical(
            seq=4,
            at=forged_at,
            actor=row[2],
            actor_role=row[3],
            action=row[4],
            purpose=row[5],
            student_id=row[6],
            subject_count=row[7],
            detail=row[8],
        ),
    )
    tamper(database_url, "UPDATE audit_log SET at = %s, hash = %s WHERE seq = 4", (forged_at, digest))
    result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 4 and "rewritten" in (result.problem or "")


def test_deleted_row_fails_verify_and_is_named(
    conn: psycopg.Connection, database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    fill(conn, 10)
    tamper(database_url, "DELETE FROM audit_log WHERE seq = 7")
    out = run_cli(settings, monkeypatch, capsys, "audit", "verify", "--json")
    assert out.code == 1
    report = out.json()
    assert isinstance(report, dict) and report["first_bad_seq"] == 7 and "missing" in report["problem"]


def test_deleted_tail_fails_verify(conn: psycopg.Connection, database_url: str) -> None:
    fill(conn, 10)
    tamper(database_url, "DELETE FROM audit_log WHERE seq > 8")
    result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 9


def test_reordered_rows_fail_verify_and_are_named(conn: psycopg.Connection, database_url: str) -> None:
    fill(conn, 10)
    # Swap entries 3 and 5 (their positions in the chain).
    tamper(database_url, "UPDATE audit_log SET seq = -1 WHERE seq = 3")
    tamper(database_url, "UPDATE audit_log SET seq = 3 WHERE seq = 5")
    tamper(database_url, "UPDATE audit_log SET seq = 5 WHERE seq = -1")
    result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 3


def test_prefix_removal_keeps_the_chain_verifiable(conn: psycopg.Connection) -> None:
    old = datetime.now(UTC) - timedelta(days=3000)
    for i in range(5):
        audit.record(
            conn, actor="a", actor_role="admin", action="personal.read", at=old + timedelta(minutes=i)
        )
    fill(conn, 5)
    removed = audit.remove_prefix(conn, before=datetime.now(UTC) - timedelta(days=365))
    assert removed == 5
    result = audit.verify(conn)
    assert result.ok and result.anchor_seq == 5 and result.checked == 6  # 5 kept + the removal's own entry
    last = conn.execute("SELECT action, detail FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    assert last is not None and last[0] == "audit.prefix_removed" and last[1]["removed"] == 5
    assert audit.remove_prefix(conn, before=datetime.now(UTC) - timedelta(days=365)) == 0


def test_who_accessed_includes_bulk_reads_and_their_lists_are_covered(
    conn: psycopg.Connection, database_url: str
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    audit.record(
        conn, actor="t.teacher", actor_role="teacher", action="presence.roster_read", subjects=[alice, bob]
    )
    audit.record(conn, actor="f.office", actor_role="front_office", action="personal.read", student_id=alice)
    audit.record(conn, actor="f.office", actor_role="front_office", action="personal.read", student_id=bob)
    entries = audit.who_accessed(conn, student_id=alice)
    assert [(e.actor, e.action, e.subject_count) for e in entries] == [
        ("t.teacher", "presence.roster_read", 2),
        ("f.office", "personal.read", 1),
    ]
    assert audit.verify(conn).ok
    tamper(database_url, "DELETE FROM audit_subjects WHERE student_id = %s", (alice,))
    result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 1 and "students" in (result.problem or "")


def test_concurrent_writers_get_gapless_seqs(database_url: str) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with psycopg.connect(database_url) as c:
                for _ in range(n):
                    with c.transaction():
                        audit.record(c, actor="svc", actor_role="system", action="personal.read")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(15,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    with psycopg.connect(database_url, autocommit=True) as c:
        seqs = [r[0] for r in c.execute("SELECT seq FROM audit_log ORDER BY seq")]
        assert seqs == list(range(1, 61))
        assert audit.verify(c).ok


def test_bad_entries_are_refused_with_a_reason(conn: psycopg.Connection) -> None:
    with pytest.raises(AuditError, match="actor role"):
        audit.record(conn, actor="a", actor_role="janitor", action="personal.read")
    with pytest.raises(AuditError, match="dotted"):
        audit.record(conn, actor="a", actor_role="admin", action="Read")
    with pytest.raises(AuditError, match="floats"):
        audit.record(conn, actor="a", actor_role="admin", action="a.b", detail={"x": 0.5})
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)


def test_who_accessed_command_is_itself_audited(
    conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    add_site(conn, settings.site_id)
    student = uuid.uuid4()
    fill(conn, 2, student=student)
    out = run_cli(
        settings,
        monkeypatch,
        capsys,
        "audit",
        "who-accessed",
        "--student",
        str(student),
        "--actor",
        "dpo.jones",
        "--role",
        "dpo",
        "--purpose-of-access",
        "subject access request",
    )
    assert out.code == 0 and out.out.count("personal.read") == 2
    last = conn.execute(
        "SELECT actor, actor_role, action, purpose, student_id FROM audit_log ORDER BY seq DESC LIMIT 1"
    )
    assert last.fetchone() == ("dpo.jones", "dpo", "audit.read", "subject access request", student)
