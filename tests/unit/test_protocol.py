"""The published protocol: schemas match the decoders, documented examples validate, test vectors hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from campus import schemas, signing, wire
from privacy import eid, pseudonyms

DOC = (Path(__file__).parents[2] / "docs" / "PROTOCOL.md").read_text()
SCHEMA_DIR = Path(schemas.__file__).parent
BATCH = (
    b'{"v":1,"site":"demo","gateway":"gw-101","boot":3,"seq":42,"sent_at_ms":1795339200000,"sightings":['
    b'{"kind":"ble-eid","id":"0f1e2d3c4b5a6978","first_ms":1795339198500,"last_ms":1795339199900,"count":4,"rssi_max":-58,"rssi_median":-61},'
    b'{"kind":"rfid","id":"00112233445566778899aabbccddeeff","first_ms":1795339199000,"last_ms":1795339199000,"count":1}]}'
)


def test_committed_schemas_are_generated_from_the_decoders() -> None:
    for filename, schema in schemas.generate().items():
        assert json.loads((SCHEMA_DIR / filename).read_text()) == json.loads(json.dumps(schema)), (
            f"{filename} is stale: run python -m campus.schemas"
        )


def _doc_examples() -> list[dict[str, object]]:
    blocks = re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


@pytest.mark.parametrize(
    ("index", "filename", "decode"),
    [
        (0, "sighting-batch.v1.json", lambda b: wire.decode_batch(b, max_bytes=1 << 20)),
        (1, "ack.v1.json", wire.decode_ack),
        (2, "gateway-status.v1.json", wire.decode_status),
    ],
)
def test_documented_examples_pass_schema_and_decoder(index: int, filename: str, decode: object) -> None:
    example = _doc_examples()[index]
    jsonschema.validate(example, json.loads((SCHEMA_DIR / filename).read_text()))
    decode(json.dumps(example).encode())  # type: ignore[operator]


def test_schema_rejects_what_the_decoder_rejects() -> None:
    schema = json.loads((SCHEMA_DIR / "sighting-batch.v1.json").read_text())
    bad = json.loads(BATCH)
    bad["sightings"][0]["id"] = "0F1E2D3C4B5A6978"  # upper-case hex is not allowed
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    with pytest.raises(wire.WireError):
        wire.decode_batch(json.dumps(bad).encode(), max_bytes=1 << 20)


def test_documented_example_is_the_signed_test_vector() -> None:
    assert json.loads(BATCH) == _doc_examples()[0]


def test_signature_vector() -> None:
    key = signing.load_private_key(bytes(range(32)))
    assert (
        signing.public_key_bytes(key).hex()
        == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    )
    sig = signing.sign(key, topic="campus/v1/demo/gateways/gw-101/sightings", payload=BATCH)
    assert sig in DOC
    assert sig == "6d4Q3JklB4WHkNCUfUbU18hvXDK9AVAXeZZCOSEjAGyx149AHYwWcfgFhWXVNUOiVLL3OkR5DA0BxrQ6gd/nCA=="


def test_eid_vector() -> None:
    window = eid.window_index(1795339200, 300)
    assert window == 5984464
    assert eid.eid(bytes(range(16)), window).hex() == "61673e85424fa4a0"


def test_static_hash_vector() -> None:
    digest = pseudonyms.static_badge_hash(bytes(range(32)), kind="rfid", identifier="0009 1234 56")
    assert digest.hex() == "42b7c0c015651ecc199ac85a2e6c3347"
    # Separators and case do not matter; the kind does.
    assert pseudonyms.static_badge_hash(bytes(range(32)), kind="rfid", identifier="0009123456") == digest
    assert (
        pseudonyms.static_badge_hash(bytes(range(32)), kind="ble-ibeacon", identifier="0009123456") != digest
    )
