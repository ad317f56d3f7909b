"""Wrapping small secrets (badge keys, data keys) under the master key with AES-GCM.

A wrapped value is ``nonce (12 bytes) || ciphertext+tag``; ``purpose`` is
bound as associated data so a value wrapped for one purpose cannot be
unwrapped as another.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["UnwrapError", "unwrap", "wrap"]

_NONCE = 12


class UnwrapError(ValueError):
    """The wrapped value was not made with this key and purpose, or was altered."""


def wrap(master_key: bytes, secret: bytes, *, purpose: str) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(master_key).encrypt(nonce, secret, purpose.encode())


def unwrap(master_key: bytes, wrapped: bytes, *, purpose: str) -> bytes:
    try:
        return AESGCM(master_key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], purpose.encode())
    except InvalidTag as exc:
        raise UnwrapError(f"cannot unwrap {purpose}: wrong master key or altered value") from exc
