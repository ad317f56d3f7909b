"""Provisioning a simulated site: site row, zones, gateways, students, badges, cards, consents.

Idempotent and deterministic per seed: running it again with the same size
and seed finds the same site, zones, gateways (keys derived from the seed)
and roster (recognised by the students' simulated RFID cards, whose numbers
derive from the seed) and changes nothing but consents that differ. With
another size or seed the simulated roster is replaced. It only ever touches
a site the simulator created (its name starts with ``SIM_SITE_PREFIX``);
anything else is refused with :class:`NotSimulatedSiteError`.

Badges are issued by ``privacy.enrolment`` exactly as for a real school
(random keys, stored wrapped by the master key); the simulator needs the raw
keys to play the badges, so a re-run unwraps them the way ingest does, and
records that read in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from uuid import UUID

import numpy as np
import numpy.typing as npt
import psycopg

from campus import signing
from campus.logs import get_logger
from campus.wire import SightingKind
from firmware_sim import repository
from firmware_sim.errors import NotSimulatedSiteError
from firmware_sim.geojson import to_geojson
from firmware_sim.identities import card_number, gateway_id, gateway_seed
from firmware_sim.world import World, rng_for
from gateway.enrollment import GatewayPlacementSpec, register_public_key
from gateway.identify import card_identity
from ingest.repository import load_badges
from privacy import audit, enrolment
from privacy.eid import DEFAULT_ROTATION_S
from privacy.pseudonyms import site_badge_hash_key
from zones.service import import_zones

__all__ = ["ConsentShares", "Roster", "provision", "sim_site_name"]

log = get_logger(__name__)

ACTOR: Final = "campus-sim"
LOCATION: Final = "location_tracking"
ATTENDANCE: Final = "automatic_attendance"
_CONSENT_STREAM: Final = 5


@dataclass(frozen=True, slots=True)
class ConsentShares:
    """Shares of families that opt in, per purpose (the rest never do: consent is off by default)."""

    location: float = 0.90
    attendance: float = 0.95

    def __post_init__(self) -> None:
        for name in ("location", "attendance"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"the {name} consent share must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class Roster:
    """The simulated students as the database knows them, by simulation index."""

    student_ids: tuple[UUID, ...]
    student_keys: npt.NDArray[np.int64]
    badge_keys: tuple[bytes, ...]
    cards: tuple[str, ...]
    card_ids: tuple[str, ...]  # the keyed hash the gateways send for each card (hex)
    location: npt.NDArray[np.bool_]  # consented to location tracking
    attendance: npt.NDArray[np.bool_]
    reused: bool
    rotation_s: int = DEFAULT_ROTATION_S


def sim_site_name(*, students: int, seed: int) -> str:
    return f"{repository.SIM_SITE_PREFIX} ({students} students, seed {seed})"


def _check_site(conn: psycopg.Connection, site_id: str) -> None:
    name = repository.site_name(conn, site_id)
    if name is not None and not name.startswith(repository.SIM_SITE_PREFIX):
        raise NotSimulatedSiteError(
            f"site {site_id!r} ({name!r}) was not created by the simulator; "
            "choose another site for the simulation (sim run --site, or CAMPUS_SITE_ID for the demo)"
        )


def _gateways(conn: psycopg.Connection, world: World, *, site_id: str) -> None:
    model = world.radio_model
    ids = []
    for reader in world.campus.readers:
        gid = gateway_id(site_id, reader.reader_id)
        ids.append(gid)
        key = signing.load_private_key(gateway_seed(site_id, world.seed, reader.reader_id))
        register_public_key(
            conn,
            gateway_id=gid,
            site_id=site_id,
            public_key=signing.public_key_bytes(key),
            placement=GatewayPlacementSpec(
                kind=str(reader.kind),
                zone_id=reader.zone_id,
                x=reader.x,
                y=reader.y,
                floor=reader.floor,
                rssi_at_1m=model.rssi_at_1m,
                path_loss_exponent=model.path_loss_exponent,
            ),
        )
    repository.delete_gateways_except(conn, site_id=site_id, keep=ids)


def _existing_roster(
    conn: psycopg.Connection,
    world: World,
    *,
    site_id: str,
    card_ids: list[str],
    master_keys: tuple[bytes, ...],
) -> tuple[list[UUID], list[int], list[bytes]] | None:
    """The roster already provisioned for this size and seed, or None."""
    if repository.student_count(conn, site_id) != world.students:
        return None
    by_card = repository.rfid_students(conn, site_id)
    found = [by_card.get(bytes.fromhex(card)) for card in card_ids]
    years = world.population.year_groups()
    if any(f is None or f[2] != year for f, year in zip(found, years, strict=True)):
        return None
    eid_keys = {
        b.student_key: b.eid_key
        for b in load_badges(conn, [site_id], master_key=master_keys[0], previous_master_keys=master_keys[1:])
        if b.kind is SightingKind.BLE_EID and b.eid_key is not None
    }
    rows = [f for f in found if f is not None]
    if any(key not in eid_keys for _, key, _ in rows):
        return None
    return [sid for sid, _, _ in rows], [key for _, key, _ in rows], [eid_keys[key] for _, key, _ in rows]


def _new_roster(
    conn: psycopg.Connection,
    world: World,
    *,
    site_id: str,
    card_ids: list[str],
    pseudonym_key: bytes,
    master_key: bytes,
) -> tuple[list[UUID], list[int], list[bytes]]:
    repository.delete_roster(conn, site_id)
    students = enrolment.enrol_students(
        conn, site_id=site_id, pseudonym_key=pseudonym_key, year_groups=world.population.year_groups()
    )
    keys = enrolment.issue_eid_badges(conn, students=students, master_key=master_key)
    for student, card in zip(students, card_ids, strict=True):
        enrolment.issue_static_badge(conn, student=student, kind="rfid", static_hash=bytes.fromhex(card))
    return [s.student_id for s in students], [s.student_key for s in students], keys


def _sync_consents(
    conn: psycopg.Connection,
    *,
    site_id: str,
    student_ids: list[UUID],
    wanted: dict[str, npt.NDArray[np.bool_]],
) -> dict[str, int]:
    current = repository.granted_consents(conn, site_id)
    changed = {}
    for purpose, mask in wanted.items():
        grant = [
            sid
            for sid, want in zip(student_ids, mask.tolist(), strict=True)
            if want and purpose not in current.get(sid, set())
        ]
        withdraw = [
            sid
            for sid, want in zip(student_ids, mask.tolist(), strict=True)
            if not want and purpose in current.get(sid, set())
        ]
        for ids, granted in ((grant, True), (withdraw, False)):
            if ids:
                enrolment.record_consent(
                    conn,
                    student_ids=ids,
                    purpose=purpose,
                    granted=granted,
                    actor=ACTOR,
                    actor_role="guardian",
                    note="simulated family decision",
                )
        changed[purpose] = len(grant) + len(withdraw)
    return changed


def provision(
    conn: psycopg.Connection,
    *,
    site_id: str,
    world: World,
    pseudonym_key: bytes,
    master_keys: tuple[bytes, ...],
    consent: ConsentShares,
) -> Roster:
    """Make the database describe ``world`` on ``site_id``; returns the roster. In the caller's transaction."""
    _check_site(conn, site_id)
    repository.upsert_site(
        conn, site_id=site_id, name=sim_site_name(students=world.students, seed=world.seed)
    )
    import_zones(conn, site_id=site_id, collection=to_geojson(world.campus, site_id=site_id))
    _gateways(conn, world, site_id=site_id)
    hash_key = site_badge_hash_key(master_keys[0], site_id)
    cards = [card_number(site_id, world.seed, i) for i in range(world.students)]
    card_ids = []
    for card in cards:
        identity = card_identity(card, hash_key=hash_key)
        assert identity is not None  # simulated card numbers are hex digits
        card_ids.append(identity.id)
    existing = _existing_roster(conn, world, site_id=site_id, card_ids=card_ids, master_keys=master_keys)
    if existing is not None:
        ids, keys, badge_keys = existing
        audit.record(
            conn,
            actor=ACTOR,
            actor_role="system",
            action="personal.read",
            subject_count=len(ids),
            purpose="simulation: play the simulated students' badges",
            detail={"site": site_id, "badge_keys": len(ids)},
        )
    else:
        ids, keys, badge_keys = _new_roster(
            conn,
            world,
            site_id=site_id,
            card_ids=card_ids,
            pseudonym_key=pseudonym_key,
            master_key=master_keys[0],
        )
    draws = rng_for(world.seed, _CONSENT_STREAM).random((world.students, 2))
    location = draws[:, 0] < consent.location
    attendance = draws[:, 1] < consent.attendance
    changed = _sync_consents(
        conn, site_id=site_id, student_ids=ids, wanted={LOCATION: location, ATTENDANCE: attendance}
    )
    log.info(
        "sim.provisioned",
        site=site_id,
        students=world.students,
        readers=len(world.campus.readers),
        roster="reused" if existing is not None else "new",
        consent_changes=sum(changed.values()),
    )
    return Roster(
        student_ids=tuple(ids),
        student_keys=np.array(keys, dtype=np.int64),
        badge_keys=tuple(badge_keys),
        cards=tuple(cards),
        card_ids=tuple(card_ids),
        location=location,
        attendance=attendance,
        reused=existing is not None,
    )
