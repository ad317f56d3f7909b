"""The data document: generated from settings and registries, and docs/DATA.md kept equal to it."""

from __future__ import annotations

import json
from pathlib import Path

from campus.settings import Settings
from privacy.data_map import DATA_MAP
from privacy.registry import LOCATION_TABLES, STUDENT_TABLES
from privacy.report import build_report, render_markdown
from privacy.retention import schedule

DOC = Path(__file__).resolve().parents[3] / "docs" / "DATA.md"


def test_docs_data_md_is_the_report_for_the_default_settings() -> None:
    # conftest isolates the environment: Settings() here is the defaults.
    expected = render_markdown(build_report(Settings()))
    assert DOC.read_text() == expected, (
        "docs/DATA.md is stale: regenerate it with `campus privacy report > docs/DATA.md` "
        "under default settings (no retention_* or breach_* overrides in campus.toml or CAMPUS_*)"
    )


def test_every_kind_of_data_in_the_schedule_is_described() -> None:
    kinds = {rule.kind for rule in schedule(Settings())}
    assert kinds == set(DATA_MAP), f"undescribed: {kinds - set(DATA_MAP)}; stale: {set(DATA_MAP) - kinds}"


def test_every_table_that_names_a_student_or_a_location_has_a_retention_rule() -> None:
    governed = {rule.table for rule in schedule(Settings())}
    assert {t.table for t in LOCATION_TABLES} <= governed
    assert set(STUDENT_TABLES) <= governed


def test_the_report_follows_the_live_settings() -> None:
    report = build_report(Settings(retention_presence_days=3, breach_bulk_students=9))
    presence = next(item for item in report["data"] if item["table"] == "presence")
    assert presence["kept"] == "3 days from sample time"
    assert presence["window_days"] == 3
    assert presence["removed_within"] == "1 hour 15 minutes"
    assert presence["erased_on_withdrawal_of"] == "location_tracking"
    assert "more than 9 students" in report["breach_detection"]["bulk_read"]
    assert "| raw presence samples |" in render_markdown(report)
    json.dumps(report)  # the JSON format is plain data


def test_personal_data_always_has_a_lawful_basis_and_readers() -> None:
    for item in build_report(Settings())["data"]:
        assert item["readers"], item["kind"]
        if item["personal"]:
            assert item["lawful_basis"] in {
                "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
            }, item["kind"]  # fmt: skip
