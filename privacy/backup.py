"""Encrypted backups: create, restore into an empty database, and verify by a full round trip.

- :func:`create_backup` opens a read-only repeatable-read transaction, exports
  its snapshot, computes the manifest (row counts and checksums per table) in
  it, and runs ``pg_dump --format=custom --snapshot=...`` so the dump and the
  manifest see the same data. ``pg_dump``'s output is encrypted chunk by
  chunk as it arrives (:mod:`privacy.backup_format`) into ``FILE.partial``
  (mode 0600), renamed to ``FILE`` only when complete: nothing unencrypted
  touches the disk, and a failed backup leaves no file that looks complete.
- :func:`restore_backup` authenticates the whole archive first (a damaged
  archive changes nothing), refuses a database that is not empty, creates
  TimescaleDB at the archive's exact version, and runs ``pg_restore``
  between ``timescaledb_pre_restore()`` and ``timescaledb_post_restore()``.
- :func:`verify_backup` restores into a scratch database on the same server,
  compares every table's row count and checksum with the manifest, and drops
  the scratch database.

Keys (see :mod:`privacy.backup_keys`): archives are sealed with the backup
key, kept in its own file; student data keys are left out of archives and
restored from the data-key store, so a student erased after an archive was
made stays unreadable in it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from campus import db
from campus.logs import get_logger
from campus.settings import Settings
from privacy import backup_keys
from privacy import backup_repository as repo
from privacy.backup_format import ArchiveError, ArchiveReader, ArchiveWriter
from privacy.backup_manifest import Manifest, ManifestError, compare
from privacy.ops_errors import BackupError
from privacy.retention_repository import list_tables

__all__ = [
    "RestoreOutcome",
    "VerifyOutcome",
    "create_backup",
    "read_manifest",
    "restore_backup",
    "verify_backup",
]

log = get_logger(__name__)

# Lines of a tool's stderr kept for the error message (the rest is dropped unread).
_STDERR_LINES = 50
_READ_BYTES = 1 << 16


def _tool(settings: Settings, name: str) -> Path:
    path = settings.pg_bindir / name
    if not path.is_file():
        raise BackupError(
            f"{path} not found; set pg_bindir to the PostgreSQL binaries of the server's version"
        )
    return path


def _check_tool_version(tool: Path, server_major: int) -> None:
    argv = [str(tool), "--version"]
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout  # noqa: S603 - our own tool path, no shell
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None or int(match.group(1)) != server_major:
        raise BackupError(
            f"{tool.name} is version {out.strip() or '?'}, the server is PostgreSQL {server_major}; "
            "use the tools of the same major version (pg_bindir)"
        )


def _tool_environment(dsn: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password (visible in ``ps``) and an environment carrying it."""
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


class _StderrTail:
    """Drains a child's stderr on a thread (so the child never blocks on it) and keeps the last lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self._thread = threading.Thread(target=self._drain, args=(stream,), name="backup-stderr", daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                self._lines.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the child is gone and its status says enough

    def summary(self) -> str:
        self._thread.join(timeout=10)
        errors = [line for line in self._lines if "error" in line.lower()]
        # Only the tool's own error line: CONTEXT lines can quote row content.
        return (errors or list(self._lines) or ["no message"])[0]


def _dump(argv: list[str], env: dict[str, str], writer: ArchiveWriter) -> None:
    """Stream ``pg_dump``'s output into the archive as it arrives."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as child:  # noqa: S603 - our own tool path, no shell
        assert child.stdout is not None and child.stderr is not None
        tail = _StderrTail(child.stderr)
        try:
            while data := child.stdout.read(_READ_BYTES):
                writer.write(data)
        except BaseException:
            child.kill()
            raise
        code = child.wait()
        message = tail.summary()
    if code != 0:
        raise BackupError(f"pg_dump failed: {message}")


def create_backup(settings: Settings, *, out: Path) -> Manifest:
    """Write an encrypted archive of the whole database to ``out`` (which must not exist).

    Also rewrites the data-key store from the same snapshot (the archive holds
    no data keys).
    """
    if out.exists():
        raise BackupError(f"{out} already exists; choose a new file name")
    key = backup_keys.load_backup_key(settings, create=True)
    pg_dump = _tool(settings, "pg_dump")
    partial = out.with_name(out.name + ".partial")
    with db.connect(settings.dsn, autocommit=True, application_name="campus-backup") as conn:
        major = repo.server_major(conn)
        _check_tool_version(pg_dump, major)
        repo.normalise_session(conn)
        snapshot = repo.export_snapshot(conn)
        try:
            manifest = Manifest(
                created_at=datetime.now(UTC),
                postgres_major=major,
                timescaledb=repo.timescaledb_version(conn),
                schema_revision=repo.schema_revision(conn),
                tables=repo.table_digests(conn, list_tables(conn)),
            )
            conninfo, env = _tool_environment(settings.dsn)
            argv = [
                str(pg_dump),
                "--format=custom",
                "--no-password",
                f"--snapshot={snapshot}",
                f"--exclude-table-data=public.{backup_keys.DATA_KEY_TABLE}",
                f"--dbname={conninfo}",
            ]
            try:
                partial.unlink(missing_ok=True)  # a leftover keeps its old mode: start afresh
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                raise BackupError(f"cannot write {out}: {exc.strerror}") from exc
            try:
                with os.fdopen(fd, "wb") as sink:
                    writer = ArchiveWriter(sink, key, manifest=manifest.to_json())
                    _dump(argv, env, writer)
                    writer.close()
                    sink.flush()
                    os.fsync(sink.fileno())
                backup_keys.refresh_data_keys(conn, settings, force=True)
                partial.rename(out)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        finally:
            conn.execute("COMMIT")
    log.info(
        "backup.created", tables=len(manifest.tables), rows=manifest.total_rows, bytes=out.stat().st_size
    )
    return manifest


def _open(archive: Path, key: bytes) -> tuple[IO[bytes], ArchiveReader, Manifest]:
    try:
        src = archive.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot open {archive}: {exc.strerror}") from exc
    try:
        reader = ArchiveReader(src, key)
        return src, reader, Manifest.from_json(reader.manifest)
    except (ArchiveError, ManifestError) as exc:
        src.close()
        raise BackupError(f"{archive}: {exc}") from exc


def read_manifest(settings: Settings, archive: Path, *, authenticate_all: bool = True) -> Manifest:
    """The archive's manifest; with ``authenticate_all``, every chunk is authenticated first."""
    src, reader, manifest = _open(archive, backup_keys.load_backup_key(settings, create=False))
    with src:
        if authenticate_all:
            try:
                for _ in reader.data():
                    pass
            except ArchiveError as exc:
                raise BackupError(f"{archive}: {exc}") from exc
    return manifest


def _feed(child: subprocess.Popen[bytes], chunks: Iterable[bytes]) -> None:
    assert child.stdin is not None
    try:
        for chunk in chunks:
            child.stdin.write(chunk)
    except BrokenPipeError:
        pass  # pg_restore stopped on an error; its exit status says which
    finally:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()


def _prepare_target(conn: psycopg.Connection, manifest: Manifest) -> None:
    found = repo.foreign_relations(conn)
    if found:
        raise BackupError(
            f"the target database is not empty ({len(found)} relations, e.g. {found[0]}); "
            "restore only into an empty database"
        )
    if manifest.timescaledb is None:
        return
    installed = repo.timescaledb_version(conn)
    if installed not in (None, manifest.timescaledb):
        raise BackupError(f"the archive needs TimescaleDB {manifest.timescaledb}; the target has {installed}")
    if manifest.timescaledb not in repo.available_timescaledb_versions(conn):
        raise BackupError(
            f"the archive needs TimescaleDB {manifest.timescaledb}, which this server does not have"
        )
    repo.prepare_timescaledb(conn, manifest.timescaledb)
    repo.pre_restore(conn)


def _pg_restore(argv: list[str], env: dict[str, str], archive: Path, key: bytes) -> None:
    src, reader, _ = _open(archive, key)
    with (
        src,
        subprocess.Popen(  # noqa: S603 - our own tool path, no shell
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        ) as child,
    ):
        assert child.stderr is not None
        tail = _StderrTail(child.stderr)
        try:
            _feed(child, reader.data())
        except ArchiveError as exc:  # the file changed since it was authenticated
            child.kill()
            raise BackupError(f"{archive}: {exc}") from exc
        finally:
            code = child.wait()
            message = tail.summary()
    if code != 0:
        raise BackupError(f"pg_restore failed (the target is partly restored): {message}")


@dataclass(frozen=True, slots=True)
class RestoreOutcome:
    """What a restore brought back: the archive's manifest, keys restored, students left unreadable."""

    manifest: Manifest
    data_keys: int
    unreadable_students: int
    key_store_found: bool


def restore_backup(settings: Settings, *, archive: Path, into_dsn: str) -> RestoreOutcome:
    """Restore ``archive`` into the empty database at ``into_dsn``, with data keys from the key store."""
    key = backup_keys.load_backup_key(settings, create=False)
    manifest = read_manifest(settings, archive)  # authenticated end to end before anything changes
    store = backup_keys.read_data_keys(settings)
    pg_restore = _tool(settings, "pg_restore")
    with db.connect(into_dsn, autocommit=True, application_name="campus-restore") as conn:
        _check_tool_version(pg_restore, repo.server_major(conn))
        _prepare_target(conn, manifest)
        conninfo, env = _tool_environment(into_dsn)
        argv = [str(pg_restore), "--no-owner", "--exit-on-error", "--no-password", f"--dbname={conninfo}"]
        try:
            _pg_restore(argv, env, archive, key)
        finally:
            if manifest.timescaledb is not None:
                repo.post_restore(conn)
        keys = repo.insert_data_keys(conn, list(store.rows)) if store is not None else 0
        unreadable = repo.students_without_keys(conn)
    log.info("backup.restored", tables=len(manifest.tables), rows=manifest.total_rows, data_keys=keys)
    return RestoreOutcome(manifest, keys, unreadable, store is not None)


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    restore: RestoreOutcome
    problems: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_backup(settings: Settings, *, archive: Path) -> VerifyOutcome:
    """Restore into a scratch database, compare with the manifest, drop the scratch database."""
    scratch = f"campus_verify_{secrets.token_hex(4)}"
    with db.connect(settings.dsn, autocommit=True) as admin:
        try:
            repo.create_database(admin, scratch)
        except psycopg.Error as exc:
            raise BackupError(
                f"cannot create a scratch database to verify into: {exc.diag.message_primary}"
            ) from exc
    try:
        dsn = make_conninfo(settings.dsn, dbname=scratch)
        outcome = restore_backup(settings, archive=archive, into_dsn=dsn)
        with db.connect(dsn, autocommit=True) as conn:
            repo.normalise_session(conn)
            restored = repo.table_digests(conn, list_tables(conn))
    finally:
        with db.connect(settings.dsn, autocommit=True) as admin:
            repo.drop_database(admin, scratch)
    manifest = outcome.manifest
    problems = compare(manifest, restored, outside=(backup_keys.DATA_KEY_TABLE,))
    notes = []
    held = manifest.tables.get(backup_keys.DATA_KEY_TABLE)
    if held is not None:
        if not outcome.key_store_found:
            problems.append(
                f"no data-key store at {backup_keys.data_keys_path(settings)}: personal fields are unreadable"
            )
        notes.append(
            f"{backup_keys.DATA_KEY_TABLE}: {held.rows} keys when archived, {outcome.data_keys} restored from the "
            f"data-key store ({held.rows - outcome.data_keys} destroyed since by erasure)"
        )
    log.info("backup.verified", ok=not problems, tables=len(restored), problems=len(problems))
    return VerifyOutcome(outcome, tuple(problems), tuple(notes))
