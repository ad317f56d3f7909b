"""Enrolling a gateway: its identity key pair, its registration, its configuration file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

from campus import signing
from gateway.config import write_config
from privacy.pseudonyms import site_badge_hash_key

__all__ = ["EnrolledGateway", "GatewayPlacementSpec", "enroll", "register_public_key", "revoke"]


@dataclass(frozen=True, slots=True)
class GatewayPlacementSpec:
    kind: str = "ble"
    zone_id: str | None = None
    x: float | None = None
    y: float | None = None
    floor: int | None = None
    rssi_at_1m: float = -59.0
    path_loss_exponent: float = 2.2


@dataclass(frozen=True, slots=True)
class EnrolledGateway:
    gateway_id: str
    site_id: str
    config_file: Path
    key_file: Path


def register_public_key(
    conn: psycopg.Connection,
    *,
    gateway_id: str,
    site_id: str,
    public_key: bytes,
    placement: GatewayPlacementSpec,
) -> None:
    """Register (or re-key) a gateway. Re-enrolling replaces its key and lifts a revocation."""
    if len(public_key) != signing.PUBLIC_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {signing.PUBLIC_KEY_BYTES} bytes, not {len(public_key)}")
    conn.execute(
        """INSERT INTO gateways (gateway_id, site_id, public_key, kind, zone_id, x, y, floor, rssi_at_1m, path_loss_exponent)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (gateway_id) DO UPDATE SET
             site_id = EXCLUDED.site_id, public_key = EXCLUDED.public_key, kind = EXCLUDED.kind,
             zone_id = EXCLUDED.zone_id, x = EXCLUDED.x, y = EXCLUDED.y, floor = EXCLUDED.floor,
             rssi_at_1m = EXCLUDED.rssi_at_1m, path_loss_exponent = EXCLUDED.path_loss_exponent,
             enrolled_at = now(), revoked_at = NULL""",
        (
            gateway_id,
            site_id,
            public_key,
            placement.kind,
            placement.zone_id,
            placement.x,
            placement.y,
            placement.floor,
            placement.rssi_at_1m,
            placement.path_loss_exponent,
        ),
    )


def revoke(conn: psycopg.Connection, *, gateway_id: str) -> bool:
    cur = conn.execute(
        "UPDATE gateways SET revoked_at = now() WHERE gateway_id = %s AND revoked_at IS NULL", (gateway_id,)
    )
    return cur.rowcount == 1


def enroll(
    conn: psycopg.Connection,
    *,
    gateway_id: str,
    site_id: str,
    placement: GatewayPlacementSpec,
    out_dir: Path,
    master_key: bytes,
    broker_host: str,
    broker_port: int,
) -> EnrolledGateway:
    """Make a key pair, register the public key, write ``<id>.key`` (0600) and ``<id>.toml`` in ``out_dir``."""
    key = signing.generate_private_key()
    out_dir.mkdir(parents=True, exist_ok=True)
    key_file = out_dir / f"{gateway_id}.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(signing.private_key_bytes(key).hex() + "\n")
    register_public_key(
        conn,
        gateway_id=gateway_id,
        site_id=site_id,
        public_key=signing.public_key_bytes(key),
        placement=placement,
    )
    config_file = out_dir / f"{gateway_id}.toml"
    write_config(
        config_file,
        gateway_id=gateway_id,
        site=site_id,
        key_file=key_file.resolve(),
        badge_hash_key=site_badge_hash_key(master_key, site_id),
        broker_host=broker_host,
        broker_port=broker_port,
        journal_path=(out_dir / f"{gateway_id}.journal").resolve(),
    )
    return EnrolledGateway(gateway_id, site_id, config_file, key_file)
