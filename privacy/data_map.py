"""What each kind of data is, why it is held and who may read it: the registry behind the data document. Pure.

One :class:`DataDescription` per kind of data in the retention schedule
(:func:`privacy.retention.schedule`), matched by ``kind``; a unit test fails
when a rule has no description, so the data document cannot leave a kind out.
Roles are the audit log's roles (:class:`privacy.models.Role`); lawful bases
are UK GDPR Article 6(1) bases (:class:`privacy.models.LawfulBasis`), or
``none`` for data about no person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DATA_MAP", "NOT_PERSONAL", "DataDescription"]

NOT_PERSONAL: Final = "none"


@dataclass(frozen=True, slots=True)
class DataDescription:
    contents: str
    purpose: str
    lawful_basis: str
    readers: tuple[str, ...]
    personal: bool = True


_STAFF_LIVE = ("admin", "front_office", "teacher", "fire_warden")

DATA_MAP: Final[dict[str, DataDescription]] = {
    "raw presence samples": DataDescription(
        "keyed pseudonym, zone, time, reader, confidence", "location_tracking", "consent", _STAFF_LIVE
    ),
    "current whereabouts": DataDescription(
        "keyed pseudonym, current and last zone, since when", "location_tracking", "consent", _STAFF_LIVE
    ),
    "zone transitions": DataDescription(
        "keyed pseudonym, from and to zone, time",
        "location_tracking",
        "consent",
        ("admin", "front_office", "teacher"),
    ),
    "door taps (attendance evidence)": DataDescription(
        "keyed pseudonym, door, time", "automatic_attendance", "consent", ("admin", "front_office", "teacher")
    ),
    "attendance marks": DataDescription(
        "student, session, mark (present, late, absent, left early)",
        "attendance register",
        "legal_obligation",
        ("admin", "front_office", "teacher", "parent", "student"),
    ),
    "alerts": DataDescription(
        "keyed pseudonym, alert kind, zone, time", "safeguarding", "public_task", ("admin", "front_office")
    ),
    "evacuation reports": DataDescription(
        "who was accounted for at which assembly point, last known zone",
        "emergency evacuation",
        "vital_interests",
        ("admin", "fire_warden"),
    ),
    "audit log": DataDescription(
        "who (staff name, role) did what to whose data, when and why; never names or card numbers",
        "accountability",
        "legal_obligation",
        ("admin", "dpo", "auditor", "parent", "student"),
    ),
    "audit log subjects": DataDescription(
        "which students a bulk read touched",
        "accountability",
        "legal_obligation",
        ("admin", "dpo", "auditor"),
    ),
    "audit log anchors": DataDescription(
        "sequence number and hash where old audit entries were removed",
        "accountability",
        NOT_PERSONAL,
        ("admin", "dpo", "auditor"),
        personal=False,
    ),
    "consent history": DataDescription(
        "every consent decision: purpose, granted or not, by whom (name, role), when",
        "proof of consent",
        "legal_obligation",
        ("admin", "front_office", "dpo", "parent", "student"),
    ),
    "current consent": DataDescription(
        "per purpose: granted or not, since when",
        "consent gate",
        "legal_obligation",
        ("admin", "front_office", "dpo", "parent", "student"),
    ),
    "students (pseudonymous)": DataDescription(
        "student id, site, year group, keyed pseudonym", "enrolment", "public_task", ("admin", "front_office")
    ),
    "badges": DataDescription(
        "badge kind, badge key wrapped by the master key, or the keyed hash of a card number",
        "recognising badges",
        "public_task",
        ("system",),
    ),
    "personal fields (encrypted)": DataDescription(
        "full name, date of birth, guardians' names and contacts: each field encrypted (AES-GCM)",
        "identifying the student to staff; contacting guardians",
        "public_task",
        ("admin", "front_office", "dpo", "parent", "student"),
    ),
    "student data keys": DataDescription(
        "each student's data key, wrapped by the master key (kept out of archives, in the backup data-key store)",
        "field encryption",
        "public_task",
        ("system",),
    ),
    "pending erasures": DataDescription(
        "keyed pseudonym, purpose, when the second erasure pass is due",
        "erasure",
        "legal_obligation",
        ("system",),
    ),
    "rejected messages": DataDescription(
        "why a gateway message was rejected, with badge identifiers removed",
        "diagnosing faulty gateways",
        NOT_PERSONAL,
        ("admin",),
        personal=False,
    ),
    "ingest ledger": DataDescription(
        "gateway, boot and sequence numbers committed",
        "exactly-once ingest",
        NOT_PERSONAL,
        ("admin",),
        personal=False,
    ),
    "gateway progress": DataDescription(
        "each gateway boot's acknowledged sequence number",
        "exactly-once ingest",
        NOT_PERSONAL,
        ("admin",),
        personal=False,
    ),
    "site progress": DataDescription(
        "each site's last evaluated tick",
        "restart without duplicates",
        NOT_PERSONAL,
        ("admin",),
        personal=False,
    ),
    "gateway status": DataDescription(
        "each gateway's last status: firmware, uptime, journal depth, clock offset",
        "operations",
        NOT_PERSONAL,
        ("admin",),
        personal=False,
    ),
    "service heartbeats": DataDescription(
        "each service instance's liveness and counters",
        "operations",
        NOT_PERSONAL,
        ("admin",),
        personal=False,
    ),
    "retention sweep records": DataDescription(
        "when each sweep ran and how many rows it removed per table",
        "proof of retention",
        NOT_PERSONAL,
        ("admin", "dpo", "auditor"),
        personal=False,
    ),
    "breach detection findings": DataDescription(
        "unusual access found in the audit log: staff name, role, rule, counts",
        "breach detection",
        "legal_obligation",
        ("admin", "dpo"),
    ),
    "breach records": DataDescription(
        "what happened, when the school became aware, notifications, handling",
        "breach accountability",
        "legal_obligation",
        ("admin", "dpo"),
    ),
}
