"""Master keyring and field encryption: rotation reads, binding of ciphertexts to student and field."""

from __future__ import annotations

import os
import uuid
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy import fields
from privacy.errors import InvalidInputError, KeyUnavailableError
from privacy.keyring import MasterKeyring, key_id
from privacy.models import Guardian, PersonalRecord

OLD, NEW, OTHER = os.urandom(32), os.urandom(32), os.urandom(32)


def test_key_ids_name_keys_without_revealing_them() -> None:
    assert key_id(OLD) == key_id(OLD) != key_id(NEW)
    assert len(key_id(OLD)) == 16 and OLD.hex()[:16] != key_id(OLD)


def test_values_wrapped_by_a_previous_key_still_open() -> None:
    wrapped, wrapped_by = MasterKeyring(OLD).wrap(b"secret", purpose="p")
    ring = MasterKeyring.of(NEW, [OLD])
    assert ring.unwrap(wrapped, purpose="p", wrapped_by=wrapped_by) == b"secret"
    assert ring.unwrap(wrapped, purpose="p") == b"secret"  # no recorded id: every key is tried
    rewrapped, new_id = ring.wrap(b"secret", purpose="p")
    assert new_id == key_id(NEW) and MasterKeyring(NEW).unwrap(rewrapped, purpose="p") == b"secret"


def test_unknown_or_wrong_keys_give_a_readable_error() -> None:
    wrapped, wrapped_by = MasterKeyring(OTHER).wrap(b"secret", purpose="p")
    ring = MasterKeyring.of(NEW, [OLD])
    with pytest.raises(KeyUnavailableError, match="neither the current nor a previous"):
        ring.unwrap(wrapped, purpose="p", wrapped_by=wrapped_by)
    with pytest.raises(KeyUnavailableError, match="none of the configured"):
        ring.unwrap(wrapped, purpose="p")
    mine, my_id = ring.wrap(b"secret", purpose="p")
    with pytest.raises(KeyUnavailableError, match="altered"):
        ring.unwrap(mine, purpose="other purpose", wrapped_by=my_id)


names = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=60).filter(str.strip)


@given(
    name=names,
    dob=st.none() | st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 1, 1)),
    guardians=st.lists(
        st.builds(Guardian, names, st.none() | names, st.none() | names, st.none() | names), max_size=3
    ),
)
def test_fields_round_trip(name: str, dob: date | None, guardians: list[Guardian]) -> None:
    key, sid = fields.new_data_key(), uuid.uuid4()
    record = PersonalRecord(name, dob, tuple(guardians))
    stored = fields.encrypt_record(key, student_id=sid, record=record)
    assert set(stored) == set(fields.FIELDS)
    assert all(name.strip().encode() not in c for c in stored.values() if len(name.strip()) > 3)
    back = fields.decrypt_record(key, student_id=sid, stored=stored)
    assert back.full_name == name.strip() and back.date_of_birth == dob
    assert [g.name for g in back.guardians] == [g.name.strip() for g in guardians]


def test_ciphertexts_are_bound_to_their_student_and_field() -> None:
    key, alice, bob = fields.new_data_key(), uuid.uuid4(), uuid.uuid4()
    stored = fields.encrypt_record(key, student_id=alice, record=PersonalRecord("Alice A", date(2014, 5, 1)))
    with pytest.raises(KeyUnavailableError, match="full_name"):
        fields.decrypt_record(key, student_id=bob, stored={"full_name": stored["full_name"]})
    with pytest.raises(KeyUnavailableError, match="date_of_birth"):
        fields.decrypt_record(key, student_id=alice, stored={"date_of_birth": stored["full_name"]})
    with pytest.raises(KeyUnavailableError):
        fields.decrypt_record(fields.new_data_key(), student_id=alice, stored=stored)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InvalidInputError, match="full_name"):
        fields.encrypt_record(fields.new_data_key(), student_id=uuid.uuid4(), record=PersonalRecord("  "))
    with pytest.raises(InvalidInputError, match="guardian 2"):
        fields.encrypt_record(
            fields.new_data_key(),
            student_id=uuid.uuid4(),
            record=PersonalRecord("A", guardians=(Guardian("G"), Guardian(" "))),
        )
