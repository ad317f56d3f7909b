"""What a backup holds, written into the archive (encrypted) and checked after a restore (pure).

For every table: its row count and an order-independent checksum of its
rows' text form (the sum of a 64-bit hash per row, computed by the database
with the session's output settings fixed; see ``backup_repository``). Also
the server's major version, TimescaleDB's version (a restore needs the same
one) and the schema revision.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

__all__ = ["MANIFEST_VERSION", "Manifest", "ManifestError", "TableDigest", "compare"]

MANIFEST_VERSION: Final = 1


class ManifestError(ValueError):
    """The manifest cannot be read."""


@dataclass(frozen=True, slots=True)
class TableDigest:
    rows: int
    checksum: str


@dataclass(frozen=True, slots=True)
class Manifest:
    created_at: datetime
    postgres_major: int
    timescaledb: str | None
    schema_revision: str | None
    tables: Mapping[str, TableDigest] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "v": MANIFEST_VERSION,
                "created_at": self.created_at.isoformat(),
                "postgres_major": self.postgres_major,
                "timescaledb": self.timescaledb,
                "schema_revision": self.schema_revision,
                "tables": {
                    name: {"rows": d.rows, "checksum": d.checksum} for name, d in sorted(self.tables.items())
                },
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.get("v") != MANIFEST_VERSION:
                raise ManifestError(f"manifest version {data.get('v')!r} is not supported")
            return cls(
                created_at=datetime.fromisoformat(data["created_at"]),
                postgres_major=int(data["postgres_major"]),
                timescaledb=data["timescaledb"],
                schema_revision=data["schema_revision"],
                tables={
                    name: TableDigest(int(d["rows"]), str(d["checksum"]))
                    for name, d in data["tables"].items()
                },
            )
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, ManifestError):
                raise
            raise ManifestError(f"the archive's manifest is unreadable: {exc}") from exc

    @property
    def total_rows(self) -> int:
        return sum(d.rows for d in self.tables.values())


def compare(
    expected: Manifest, actual: Mapping[str, TableDigest], *, outside: Collection[str] = ()
) -> list[str]:
    """Differences between a manifest and what a restored database holds, one sentence each.

    Tables in ``outside`` have their content kept out of the archive (data
    keys): after a restore they may hold fewer rows than the manifest, never more.
    """
    problems = []
    for name in sorted(set(expected.tables) | set(actual)):
        want, got = expected.tables.get(name), actual.get(name)
        if got is None:
            problems.append(f"{name}: in the archive's manifest but missing after restore")
        elif want is None:
            problems.append(f"{name}: present after restore but not in the archive's manifest")
        elif name in outside:
            if got.rows > want.rows:
                problems.append(f"{name}: {got.rows} rows after restore, more than the {want.rows} archived")
        elif want.rows != got.rows:
            problems.append(f"{name}: {want.rows} rows in the manifest, {got.rows} after restore")
        elif want.checksum != got.checksum:
            problems.append(f"{name}: same row count ({got.rows}) but the content checksum differs")
    return problems
