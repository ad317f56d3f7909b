"""Real servers for the tests: a private PostgreSQL 15 cluster with TimescaleDB, and Mosquitto.

The tests never use the machine's own PostgreSQL or broker: each test run
starts a throwaway cluster (``initdb``; about two seconds) and a broker on
free loopback ports, so tests can stop and restart them to inject faults
without disturbing anything else. PostgreSQL refuses to run as root; under
root the cluster runs as the ``postgres`` user.

Every test gets a fresh database cloned from a template on which the
project's real migrations ran once per session.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from campus import db

PG_BINDIR = Path(os.environ.get("CAMPUS_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
TEMPLATE = "campus_template"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class PostgresCluster:
    """A private PostgreSQL cluster on 127.0.0.1:<port> with TimescaleDB preloaded."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="campus-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def init(self) -> None:
        initdb = PG_BINDIR / "initdb"
        if not initdb.exists():
            raise RuntimeError(f"{initdb} not found: run scripts/setup first")
        subprocess.run(
            _as_owner(
                [
                    str(initdb),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "shared_preload_libraries": "'timescaledb'",
            "timescaledb.telemetry_level": "off",
            # TimescaleDB's own job scheduler would hold connections to the
            # template database; retention runs from the project's scheduler.
            "timescaledb.max_background_workers": "0",
            "max_connections": "200",
            "fsync": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def start(self) -> None:
        subprocess.run(
            _as_owner(
                [
                    str(PG_BINDIR / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.base / "log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_owner([str(PG_BINDIR / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            check=False,
            capture_output=True,
        )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def create_template(self) -> None:
        """A database with the project's real migrations applied, to clone per test."""
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        db.migrate(self.admin_dsn(TEMPLATE))
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {TEMPLATE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            for attempt in range(50):
                try:
                    conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
                    break
                except psycopg.errors.ObjectInUse:
                    # Another session is still leaving the template; bounded retry.
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_cluster(*, with_template: bool = True) -> PostgresCluster:
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        if with_template:
            cluster.create_template()
    except BaseException:
        cluster.destroy()
        raise
    return cluster
