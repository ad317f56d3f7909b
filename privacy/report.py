"""The data document: what is held, why, where, who can read it and for how long. Pure.

Built from the live settings and the code's registries only: the retention
schedule (:mod:`privacy.retention`), the data map (:mod:`privacy.data_map`),
the erasure registries (:mod:`privacy.registry`) and the breach rules
(:mod:`privacy.breach`). ``campus privacy report`` prints it; docs/DATA.md is
its Markdown for the default settings, and a test keeps the two equal.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from campus.settings import Settings
from privacy.breach import NORMAL_READS, REGULATOR_DEADLINE
from privacy.data_map import DATA_MAP
from privacy.registry import LOCATION_TABLES, STUDENT_TABLES
from privacy.retention import CONFIG_TABLES, PRESENCE_CHUNK_INTERVAL, Method, humanize, max_lateness, schedule

__all__ = ["build_report", "render_markdown"]

_REMOVAL = {
    Method.DROP_CHUNKS: "whole hourly chunks dropped",
    Method.BATCHED_DELETE: "deleted in small batches",
    Method.AUDIT_PREFIX: "oldest entries removed, chain re-anchored",
    Method.LIFETIME: "erasure",
}


def _kept(window: timedelta | None, measured_from: str) -> str:
    if window is None:
        return f"while {measured_from}"
    return f"{humanize(window)} from {measured_from}"


def _on_leaving(table: str | None) -> str:
    if table is None:
        return ""
    rule = STUDENT_TABLES.get(table)
    return rule.action.value if rule is not None else ""


def build_report(settings: Settings) -> dict[str, Any]:
    """The whole document as plain data (the JSON format)."""
    sweep = timedelta(seconds=settings.retention_sweep_interval_s)
    location = {t.table: str(t.purpose) for t in LOCATION_TABLES}
    data = []
    for rule in schedule(settings):
        about = DATA_MAP[rule.kind]
        chunk = PRESENCE_CHUNK_INTERVAL if rule.method is Method.DROP_CHUNKS else None
        late = max_lateness(chunk_interval=chunk, sweep_interval=sweep) if rule.window is not None else None
        data.append(
            {
                "kind": rule.kind,
                "table": rule.table,
                "personal": about.personal,
                "contents": about.contents,
                "purpose": about.purpose,
                "lawful_basis": about.lawful_basis,
                "readers": list(about.readers),
                "kept": _kept(rule.window, rule.measured_from),
                "window_days": rule.window.days if rule.window is not None else None,
                "removed_within": humanize(late) if late is not None else None,
                "removal": _REMOVAL[rule.method],
                "setting": rule.setting,
                "retention_reason": rule.reason,
                "erased_on_withdrawal_of": location.get(rule.table or ""),
                "on_leaving": _on_leaving(rule.table),
            }
        )
    return {
        "title": "Data held by the campus presence platform",
        "data": data,
        "configuration_tables": dict(sorted(CONFIG_TABLES.items())),
        "sweeps": {
            "every": humanize(sweep),
            "erasure_queue_every": humanize(timedelta(seconds=settings.erasure_poll_interval_s)),
            "presence_chunk_interval": humanize(PRESENCE_CHUNK_INTERVAL),
        },
        "breach_detection": {
            "bulk_read": f"one person reading more than {settings.breach_bulk_students} students' data "
            f"within {settings.breach_bulk_window_minutes} minutes",
            "off_hours": f"reads outside {settings.breach_office_hours} on {settings.breach_office_days} "
            f"({settings.breach_timezone})",
            "unusual_role": "a role reading what it does not normally read",
            "normal_reads": {role: list(patterns) for role, patterns in NORMAL_READS.items()},
            "regulator_deadline": f"{REGULATOR_DEADLINE // timedelta(hours=1)} hours from awareness",
            "families": "without undue delay",
        },
    }


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


_PROTECTIONS = (
    "Nothing about a student is stored unless a parent or guardian (or the student, old enough) has opted in "
    "to the purpose; ingest drops the rest before it reaches the database.",
    "Presence, transitions and door taps carry a keyed pseudonym, never the student id; RFID card numbers are "
    "stored only as a keyed hash; badges broadcast rotating identifiers.",
    "Names, dates of birth and guardians' contacts are encrypted per field under a per-student data key, "
    "itself wrapped by the master key. Erasing a student destroys the data key (crypto-shredding).",
    "Every read and change of personal data is written to a hash-chained, append-only audit log "
    "(`campus audit verify` proves it whole).",
    "Backups are encrypted (AES-256-GCM, chunked, authenticated) with a backup key kept apart from the "
    "archives; student data keys are never inside an archive, so an erased student stays unreadable in "
    "every backup.",
    "Logs never contain student, badge or card identifiers.",
)


def render_markdown(report: dict[str, Any]) -> str:
    """The document in Markdown (docs/DATA.md is this for the default settings)."""
    out = [
        f"# {report['title']}",
        "",
        "<!-- Generated by `campus privacy report` from the code's settings and registries; "
        "a test keeps it equal to the command's output. Do not edit by hand. -->",
        "",
        "What the platform collects, why, where it is stored, who can read it and how long it is kept. "
        "Windows are the defaults; a school's own values are printed by `campus privacy report` and "
        "`campus retention schedule`, and `campus retention check` proves they hold.",
        "",
        "## What is held",
        "",
        _row(["data", "contents", "purpose", "lawful basis", "where (table)", "who can read", "kept"]),
        _row(["---"] * 7),
    ]
    out += [
        _row(
            [
                item["kind"],
                item["contents"],
                item["purpose"],
                item["lawful_basis"],
                f"`{item['table']}`" if item["table"] else "(not yet built)",
                ", ".join(item["readers"]),
                item["kept"],
            ]
        )
        for item in report["data"]
    ]
    out += [
        "",
        "Parents and students read only their own child's or their own data (subject access: "
        "`campus export`). `system` is the platform's own services.",
        "",
        "## Retention and erasure",
        "",
        f"A sweep runs every {report['sweeps']['every']} (erasure queue every "
        f"{report['sweeps']['erasure_queue_every']}). Raw presence is a TimescaleDB hypertable in "
        f"chunks of {report['sweeps']['presence_chunk_interval']}, dropped whole, so a row outlives its window "
        "by at most one chunk plus one sweep interval; other tables lose expired rows in small batches within "
        "one sweep interval.",
        "",
        _row(
            [
                "data",
                "kept",
                "removed within",
                "how",
                "setting",
                "why this long",
                "withdrawal erases",
                "on leaving",
            ]
        ),
        _row(["---"] * 8),
    ]
    out += [
        _row(
            [
                item["kind"],
                item["kept"],
                f"+{item['removed_within']}" if item["removed_within"] else "",
                item["removal"],
                f"`{item['setting']}`" if item["setting"] else "",
                item["retention_reason"],
                item["erased_on_withdrawal_of"] or "",
                item["on_leaving"],
            ]
        )
        for item in report["data"]
    ]
    out += ["", "Tables without retention, because they hold configuration or one row of state:", ""]
    out += [f"- `{table}`: {reason}" for table, reason in report["configuration_tables"].items()]
    breach = report["breach_detection"]
    out += [
        "",
        "## Breach detection and deadlines",
        "",
        "The audit log is scanned for:",
        "",
        f"- bulk reads: {breach['bulk_read']};",
        f"- reads out of hours: {breach['off_hours']};",
        f"- unusual access: {breach['unusual_role']}.",
        "",
        "What each role normally reads (audit actions):",
        "",
    ]
    out += [
        f"- {role}: {', '.join(f'`{p}`' for p in patterns)}"
        for role, patterns in breach["normal_reads"].items()
    ]
    out += [
        "",
        f"Each finding is published on the privacy alerts topic. A breach record starts the regulator's clock: "
        f"notify within {breach['regulator_deadline']}; notify families {breach['families']} "
        "(`campus breach list` shows both).",
        "",
        "## Protections",
        "",
        *[f"- {line}" for line in _PROTECTIONS],
        "",
    ]
    return "\n".join(out)
