"""The master keys: the current one wraps, previous ones (during a rotation) still unwrap. Pure.

Each wrapped value is stored with the *id* of the master key that wrapped
it: the first 8 bytes of HMAC-SHA256(key, "campus-master-key-id-v1"), in hex.
The id names a key without revealing anything about it, lets a reader pick
the right key at once, and lets ``campus keys status`` count what is left to
re-wrap. A value stored without an id (written before ids existed) is tried
under the current key, then each previous one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from privacy import keywrap
from privacy.errors import KeyUnavailableError

__all__ = ["MASTER_KEY_BYTES", "MasterKeyring", "key_id"]

MASTER_KEY_BYTES: Final = 32


def key_id(master_key: bytes) -> str:
    return hmac.new(master_key, b"campus-master-key-id-v1", hashlib.sha256).digest()[:8].hex()


@dataclass(frozen=True, slots=True)
class MasterKeyring:
    current: bytes
    previous: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.current, *self.previous):
            if len(key) != MASTER_KEY_BYTES:
                raise ValueError(f"master keys are {MASTER_KEY_BYTES} bytes")

    @classmethod
    def of(cls, current: bytes, previous: Sequence[bytes] = ()) -> MasterKeyring:
        return cls(current, tuple(k for k in previous if k != current))

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    @property
    def known_ids(self) -> tuple[str, ...]:
        return (self.current_id, *(key_id(k) for k in self.previous))

    def wrap(self, secret: bytes, *, purpose: str) -> tuple[bytes, str]:
        """Wrap under the current key; returns (wrapped value, key id)."""
        return keywrap.wrap(self.current, secret, purpose=purpose), self.current_id

    def unwrap(self, wrapped: bytes, *, purpose: str, wrapped_by: str | None = None) -> bytes:
        """Open a wrapped value with the key that made it (or, with no id, any configured key)."""
        if wrapped_by is not None:
            for key in (self.current, *self.previous):
                if key_id(key) == wrapped_by:
                    try:
                        return keywrap.unwrap(key, wrapped, purpose=purpose)
                    except keywrap.UnwrapError as exc:
                        raise KeyUnavailableError(
                            f"a {purpose} value was altered: it fails its check"
                        ) from exc
            raise KeyUnavailableError(
                f"a {purpose} value is wrapped by master key {wrapped_by}, which is neither the "
                "current nor a previous master key in the settings"
            )
        for key in (self.current, *self.previous):
            try:
                return keywrap.unwrap(key, wrapped, purpose=purpose)
            except keywrap.UnwrapError:
                continue
        raise KeyUnavailableError(f"a {purpose} value opens with none of the configured master keys")
