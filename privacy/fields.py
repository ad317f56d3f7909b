"""Field-level encryption of personal data under per-student data keys. Pure.

Envelope encryption: each student has a random 32-byte data key, stored only
wrapped by the master key (:mod:`privacy.keyring`). Each personal field is
encrypted on its own with AES-256-GCM under that data key, with associated
data binding it to the student and the field, so a ciphertext copied to
another student or another field fails to decrypt. A stored field is
``nonce (12 bytes) || ciphertext+tag``; the plaintext is the field's JSON.

Destroying the wrapped data key (crypto-shredding) makes every copy of the
fields unreadable, including copies in backups.
"""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Any, Final
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy.errors import InvalidInputError, KeyUnavailableError
from privacy.models import Guardian, PersonalRecord

__all__ = [
    "DATA_KEY_BYTES",
    "DATA_KEY_PURPOSE",
    "FIELDS",
    "decrypt_field",
    "decrypt_record",
    "encrypt_field",
    "encrypt_record",
    "new_data_key",
]

DATA_KEY_BYTES: Final = 32
# Associated data of the data key's wrapping under the master key.
DATA_KEY_PURPOSE: Final = "student-data-key"
FIELDS: Final = ("full_name", "date_of_birth", "guardians")
_NONCE: Final = 12
# Generous bounds that still refuse a pasted document in a name field.
MAX_NAME_CHARS: Final = 200
MAX_GUARDIANS: Final = 8


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_BYTES)


def _aad(student_id: UUID, field: str) -> bytes:
    return b"campus-field-v1\x00" + student_id.bytes + field.encode()


def encrypt_field(data_key: bytes, *, student_id: UUID, field: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, _aad(student_id, field))


def decrypt_field(data_key: bytes, *, student_id: UUID, field: str, ciphertext: bytes) -> bytes:
    try:
        return AESGCM(data_key).decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], _aad(student_id, field))
    except InvalidTag as exc:
        raise KeyUnavailableError(
            f"the {field} field fails its check: altered, or moved from another record"
        ) from exc


def _field_values(record: PersonalRecord) -> dict[str, Any]:
    name = record.full_name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(f"full_name must be 1 to {MAX_NAME_CHARS} characters")
    if len(record.guardians) > MAX_GUARDIANS:
        raise InvalidInputError(f"at most {MAX_GUARDIANS} guardians")
    guardians = []
    for position, guardian in enumerate(record.guardians, start=1):
        if not guardian.name.strip() or len(guardian.name) > MAX_NAME_CHARS:
            raise InvalidInputError(f"guardian {position}: name must be 1 to {MAX_NAME_CHARS} characters")
        guardians.append(
            {
                "name": guardian.name.strip(),
                "relationship": guardian.relationship,
                "email": guardian.email,
                "phone": guardian.phone,
            }
        )
    return {
        "full_name": name,
        "date_of_birth": record.date_of_birth.isoformat() if record.date_of_birth else None,
        "guardians": guardians,
    }


def encrypt_record(data_key: bytes, *, student_id: UUID, record: PersonalRecord) -> dict[str, bytes]:
    """Every field of ``record`` encrypted: field name -> stored ciphertext."""
    return {
        field: encrypt_field(
            data_key, student_id=student_id, field=field, plaintext=json.dumps(value).encode()
        )
        for field, value in _field_values(record).items()
    }


def decrypt_record(data_key: bytes, *, student_id: UUID, stored: dict[str, bytes]) -> PersonalRecord:
    values: dict[str, Any] = {
        field: json.loads(decrypt_field(data_key, student_id=student_id, field=field, ciphertext=ciphertext))
        for field, ciphertext in stored.items()
    }
    dob = values.get("date_of_birth")
    return PersonalRecord(
        full_name=values.get("full_name") or "",
        date_of_birth=date.fromisoformat(dob) if dob else None,
        guardians=tuple(
            Guardian(g["name"], g.get("relationship"), g.get("email"), g.get("phone"))
            for g in values.get("guardians") or ()
        ),
    )
