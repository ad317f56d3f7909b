"""Settings, logging redaction, backoff, topics."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from campus import topics
from campus.logs import get_logger
from campus.mqtt import Backoff
from campus.settings import Settings, redact_url

KEY = "ab" * 32


def test_secrets_are_not_in_repr_or_public_view() -> None:
    s = Settings(database_url="postgresql://campus:hunter2@db/campus", pseudonym_key=KEY, master_key=KEY)
    assert "hunter2" not in repr(s)
    assert KEY not in repr(s)
    view = s.public_view()
    assert view["database_url"] == "postgresql://campus:***@db/campus"
    assert "master_key" not in view and "pseudonym_key" not in view


def test_production_refuses_placeholder_keys() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(environment="production", database_url="postgresql://campus:pw@db/campus")
    Settings(
        environment="production",
        database_url="postgresql://campus:pw@db/campus",
        pseudonym_key=KEY,
        master_key=KEY,
    )


def test_production_refuses_passwordless_database() -> None:
    with pytest.raises(ValidationError, match="password"):
        Settings(
            environment="production",
            database_url="postgresql://campus@db/campus",
            pseudonym_key=KEY,
            master_key=KEY,
        )


def test_bad_key_is_named() -> None:
    with pytest.raises(ValidationError, match="master_key"):
        Settings(master_key="short")


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPUS_MQTT_PORT", "2883")
    assert Settings().mqtt_port == 2883


def test_settings_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.toml"
    config.write_text('site_id = "north"\napi_port = 9000\n')
    monkeypatch.setenv("CAMPUS_CONFIG", str(config))
    monkeypatch.setenv("CAMPUS_API_PORT", "9001")
    s = Settings()
    assert (s.site_id, s.api_port) == ("north", 9001)


def test_unknown_setting_in_file_is_an_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.toml"
    config.write_text('sitee_id = "north"\n')
    monkeypatch.setenv("CAMPUS_CONFIG", str(config))
    with pytest.raises(ValidationError, match="sitee_id"):
        Settings()


def test_redact_url_without_password_is_unchanged() -> None:
    assert redact_url("postgresql://campus@db/x") == "postgresql://campus@db/x"


def test_identifiers_are_redacted_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("test.redaction")
    with caplog.at_level(logging.INFO):
        log.info("badge.seen", badge_id="0f1e2d3c4b5a6978", student_key=123456789, gateway_id="gw-1", count=3)
    text = caplog.text
    assert "0f1e2d3c4b5a6978" not in text and "123456789" not in text
    assert "badge_id=<redacted>" in text and "gateway_id=gw-1" in text and "count=3" in text


@given(st.integers(min_value=0, max_value=2**32))
def test_backoff_stays_within_cap(seed: int) -> None:
    backoff = Backoff(base_s=0.25, cap_s=5.0, rng=random.Random(seed))
    waits = [backoff.next() for _ in range(40)]
    assert all(0.0 <= w <= 5.0 for w in waits)
    assert all(w <= 0.25 * 2**i for i, w in enumerate(waits[:4]))
    backoff.reset()
    assert backoff.next() <= 0.25


def test_topics_round_trip() -> None:
    parsed = topics.parse_gateway_topic(topics.sightings("demo", "gw-1"))
    assert parsed is not None and (parsed.site, parsed.gateway, parsed.kind) == ("demo", "gw-1", "sightings")
    assert topics.parse_gateway_topic("campus/v1/demo/gateways/gw-1/other") is None
    assert topics.parse_gateway_topic("campus/v1/demo/gateways/../sightings") is None
    assert (
        topics.shared("ingest", topics.sightings_filter("demo"))
        == "$share/ingest/campus/v1/demo/gateways/+/sightings"
    )
