"""Ed25519 signatures on MQTT messages.

A gateway signs ``CONTEXT + topic + 0x00 + payload`` with its private key and
sends the signature, base64-encoded, in the MQTT 5 user property ``sig``.
Because the payload carries the gateway id, boot, seq and send time, the
signature covers them and the topic together: a batch replayed onto another
gateway's or site's topic fails verification.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "CONTEXT",
    "SIGNATURE_PROPERTY",
    "SignatureError",
    "generate_private_key",
    "load_private_key",
    "private_key_bytes",
    "public_key_bytes",
    "sign",
    "verify",
]

CONTEXT: Final = b"campus-sig-v1\x00"
SIGNATURE_PROPERTY: Final = "sig"
PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64


class SignatureError(ValueError):
    """The signature is missing, malformed, or does not verify. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _message(topic: str, payload: bytes) -> bytes:
    return CONTEXT + topic.encode() + b"\x00" + payload


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def load_private_key(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(key: Ed25519PrivateKey, *, topic: str, payload: bytes) -> str:
    """Return the base64 signature to put in the ``sig`` user property."""
    return base64.b64encode(key.sign(_message(topic, payload))).decode("ascii")


def verify(public_key: Ed25519PublicKey, *, topic: str, payload: bytes, signature: str | None) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is valid for ``topic`` and ``payload``."""
    if not signature:
        raise SignatureError("unsigned", "no 'sig' user property")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("bad_signature", "the 'sig' property is not base64") from exc
    if len(raw) != SIGNATURE_BYTES:
        raise SignatureError("bad_signature", f"signature is {len(raw)} bytes, not {SIGNATURE_BYTES}")
    try:
        public_key.verify(raw, _message(topic, payload))
    except InvalidSignature as exc:
        raise SignatureError("bad_signature", "signature does not verify with the gateway's key") from exc
