"""Assembling a gateway from its configuration: journal, uplink, backend, aggregation."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from gateway.backends import build_backend
from gateway.config import ConfigError, GatewayConfig
from gateway.journal import Journal
from gateway.runner import Gateway
from gateway.uplink import Uplink

__all__ = ["RunningGateway", "build_gateway"]


@dataclass(frozen=True, slots=True)
class RunningGateway:
    """A gateway and the journal it owns; :meth:`close` shuts both down in order."""

    gateway: Gateway
    journal: Journal

    def close(self) -> None:
        self.gateway.close()
        self.journal.close()


def build_gateway(config: GatewayConfig) -> RunningGateway:
    """Build (not start) the gateway ``config`` describes. Raises ``ConfigError`` for an unusable key or journal."""
    key = config.private_key()
    try:
        journal = Journal(config.journal.path, max_bytes=config.journal.max_bytes)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"journal.path {config.journal.path}: cannot open the journal ({exc})") from exc
    try:
        uplink = Uplink(
            gateway_id=config.gateway_id,
            site=config.site,
            key=key,
            journal=journal,
            address=config.broker_address(),
            firmware=config.firmware,
        )
        gateway = Gateway(
            uplink=uplink,
            backend=build_backend(config.scanner),
            badge_hash_key=config.badge_hash_key_bytes(),
            window_ms=config.window_ms,
        )
    except BaseException:
        journal.close()
        raise
    return RunningGateway(gateway=gateway, journal=journal)
