"""Breach support on the real database and broker: findings from the audit log, alerts after commit, records."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import psycopg
import pytest

from campus import topics
from campus.broker import LocalBroker
from campus.cli import main
from campus.settings import Settings
from privacy import audit, breach_service
from tests.builders import wait_for
from tests.servers import free_port

pytestmark = pytest.mark.servers

# A Monday in winter, 10:00 in London: office hours.
MONDAY = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


@pytest.fixture
def alerts(broker: LocalBroker, settings: Settings) -> Iterator[list[dict[str, object]]]:
    received: list[dict[str, object]] = []
    subscribed = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = lambda _c, _u, msg: received.append(json.loads(msg.payload))
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe(topics.alerts(settings.site_id, "privacy"), qos=1)
    assert subscribed.wait(5)
    yield received
    client.loop_stop()
    client.disconnect()


def read(
    conn: psycopg.Connection, *, actor: str, role: str, at: datetime, student: uuid.UUID | None = None
) -> None:
    audit.record(
        conn,
        actor=actor,
        actor_role=role,
        action="personal.read",
        student_id=student or uuid.uuid4(),
        at=at,
    )


def test_unusual_access_becomes_findings_published_once_after_commit(
    conn: psycopg.Connection, settings: Settings, alerts: list[dict[str, object]]
) -> None:
    students = [uuid.uuid4() for _ in range(60)]
    for i, sid in enumerate(students):  # 60 students in 5 minutes; the threshold is 50 in 10
        read(conn, actor="t.one", role="teacher", at=MONDAY + timedelta(seconds=5 * i), student=sid)
    read(conn, actor="a.late", role="admin", at=MONDAY.replace(hour=23))
    read(conn, actor="x.audit", role="auditor", at=MONDAY)

    outcome = breach_service.scan_and_publish(conn, settings=settings, now=MONDAY + timedelta(hours=14))
    assert len(outcome.new_findings) == 3 and outcome.published == 3
    assert wait_for(lambda: len(alerts) == 3, timeout=10)
    by_rule = {a["rule"]: a for a in alerts}
    assert set(by_rule) == {"bulk_read", "off_hours", "unusual_role"}
    bulk = by_rule["bulk_read"]
    assert (bulk["event"], bulk["actor"], bulk["actor_role"], bulk["students"]) == (
        "privacy.finding",
        "t.one",
        "teacher",
        51,
    )
    assert (bulk["first_seq"], bulk["last_seq"]) == (1, 51)
    payloads = json.dumps(alerts)
    assert not any(str(s) in payloads for s in students)  # counts and seqs, never a student

    # A second scan finds nothing new; more reads by the same actor within the window stay quiet.
    for i in range(10):
        read(conn, actor="t.one", role="teacher", at=MONDAY + timedelta(minutes=6, seconds=i))
    again = breach_service.scan_and_publish(conn, settings=settings, now=MONDAY + timedelta(hours=15))
    assert again.new_findings == () and again.published == 0
    assert conn.execute("SELECT count(*) FROM privacy_findings WHERE published_at IS NULL").fetchone() == (0,)
    assert len(alerts) == 3


def test_findings_wait_for_the_broker_and_are_not_lost(
    conn: psycopg.Connection, settings: Settings, alerts: list[dict[str, object]]
) -> None:
    read(conn, actor="x.audit", role="auditor", at=MONDAY)
    offline = settings.model_copy(update={"mqtt_port": free_port()})
    outcome = breach_service.scan_and_publish(conn, settings=offline, now=MONDAY, timeout_s=0.5)
    assert len(outcome.new_findings) == 1 and outcome.published == 0
    assert conn.execute("SELECT count(*) FROM privacy_findings WHERE published_at IS NULL").fetchone() == (1,)

    assert breach_service.publish_pending(conn, settings=settings, now=MONDAY) == 1
    assert wait_for(lambda: len(alerts) == 1, timeout=10)
    assert alerts[0]["rule"] == "unusual_role"


def test_breach_records_through_the_command_line(
    conn: psycopg.Connection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for var, value in {
        "CAMPUS_DATABASE_URL": settings.dsn,
        "CAMPUS_ENVIRONMENT": "test",
        "CAMPUS_MQTT_HOST": settings.mqtt_host,
        "CAMPUS_MQTT_PORT": str(settings.mqtt_port),
        "CAMPUS_SITE_ID": settings.site_id,
    }.items():
        monkeypatch.setenv(var, value)
    read(conn, actor="x.audit", role="auditor", at=MONDAY)
    assert main(["breach", "scan"]) == 1  # new findings: non-zero, for cron and monitoring
    assert "1 new findings, 1 published" in capsys.readouterr().out
    assert main(["breach", "scan"]) == 0
    capsys.readouterr()

    aware = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert main(["breach", "open", "--summary", "auditor read records", "--aware-at", aware, "--finding", "1",
                 "--actor", "d.dpo"]) == 0  # fmt: skip
    assert "breach #1 opened; notify the regulator by" in capsys.readouterr().out
    assert main(["breach", "open", "--summary", "x", "--finding", "99", "--actor", "d.dpo"]) == 1
    assert "no finding 99" in capsys.readouterr().err

    assert main(["breach", "list"]) == 0
    listing = capsys.readouterr().out
    assert (
        "#1 [open]" in listing
        and "regulator: due in 70 h" in listing
        and "families:  not yet notified" in listing
    )

    assert main(["breach", "notify", "1", "--regulator", "--families", "--actor", "d.dpo"]) == 0
    assert (
        main(["breach", "close", "1", "--note", "access revoked; staff retrained", "--actor", "d.dpo"]) == 0
    )
    assert main(["breach", "close", "1", "--note", "again", "--actor", "d.dpo"]) == 1
    assert "already closed" in capsys.readouterr().err
    assert main(["breach", "list"]) == 0
    assert "no open breaches" in capsys.readouterr().out
    assert main(["breach", "list", "--all", "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["status"] == "closed" and record["finding_ids"] == [1]
    assert record["regulator"].startswith("notified ")
    assert conn.execute(
        "SELECT action FROM audit_log WHERE action LIKE 'breach.%%' ORDER BY seq"
    ).fetchall() == [("breach.open",), ("breach.notify",), ("breach.close",)]
