"""Running a local Mosquitto with the platform's tuning (single machine, demo and tests).

Production brokers are configured from ``deploy/mosquitto/`` (TLS, one
identity and topic ACL per gateway). This local broker listens on loopback
only and allows anonymous clients; its tuning is what the platform needs on
any broker:

- ``set_tcp_nodelay true``: with Nagle on, p99 through the broker was 38 ms
  instead of 0.5 ms.
- ``max_queued_messages 100000``: the default (1,000) overflows in about two
  seconds when ingest stalls at 500 messages/s. Gateways' journals still
  cover anything the broker drops.
- ``max_inflight_messages 0``: ingest acknowledges only after its database
  commit (hundreds of messages per flush); the client's Receive Maximum
  bounds it instead.
- persistence on, saved every 60 s (Mosquitto's default is 30 minutes).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["BrokerError", "LocalBroker", "mosquitto_config", "port_is_open"]


class BrokerError(RuntimeError):
    """The local broker cannot be started."""


def port_is_open(host: str, port: int, *, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mosquitto_config(*, port: int, data_dir: Path, host: str = "127.0.0.1", persistence: bool = True) -> str:
    lines = [
        "# written by campus (campus/broker.py); local, loopback-only broker",
        f"listener {port} {host}",
        "allow_anonymous true",
        "set_tcp_nodelay true",
        "max_queued_messages 100000",
        "max_inflight_messages 0",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {data_dir}/",
        "autosave_interval 60",
        f"log_dest file {data_dir}/mosquitto.log",
        "log_type error",
        "log_type warning",
        "log_type notice",
        # Started as root, Mosquitto would switch to the 'mosquitto' user and
        # lose access to data_dir; stay the user that owns it.
        f"user {getpass.getuser()}",
    ]
    return "\n".join(lines) + "\n"


def _mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        raise BrokerError("mosquitto is not installed: run scripts/setup (or apt-get install mosquitto)")
    return found


class LocalBroker:
    """A Mosquitto child process on ``host:port`` with its files in ``data_dir``."""

    def __init__(
        self, *, port: int, data_dir: Path, host: str = "127.0.0.1", persistence: bool = True
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self._persistence = persistence
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 10.0) -> None:
        if port_is_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use; stop what listens there or set CAMPUS_MQTT_PORT"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "mosquitto.conf"
        config.write_text(
            mosquitto_config(
                port=self.port,
                data_dir=self.data_dir.resolve(),
                host=self.host,
                persistence=self._persistence,
            )
        )
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our own config file
            [_mosquitto_binary(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (
                    self._process.stderr.read().decode(errors="replace").strip()
                    if self._process.stderr
                    else ""
                )
                raise BrokerError(
                    f"mosquitto exited at start: {err or 'see ' + str(self.data_dir / 'mosquitto.log')}"
                )
            if port_is_open(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._release()

    def _release(self) -> None:
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def kill(self) -> None:
        """Kill the broker without letting it save (a crash)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._release()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
