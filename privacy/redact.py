"""What of a rejected message may be kept for an operator to inspect. Pure.

A rejected sighting batch can carry badge identifiers (rotating ids, card
hashes). A rotating id cannot be traced back to a student without scanning
every badge key over every window, so dead letters could never be searched
and erased per student: instead they never hold an identifier. Only the
envelope's known scalar fields are kept (version, site, gateway, boot, seq,
send time, status fields) and the sightings are reduced to a count per kind.
A payload that is not a JSON object is not kept at all (its size and digest
are); the gateway's own journal still holds the original.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any, Final

from campus.wire import SightingKind

__all__ = ["REDACTION_MARK", "is_redacted", "redact_payload"]

REDACTION_MARK: Final = "campus-redacted-v1"
# Envelope and status fields that say nothing about a student.
_SAFE_FIELDS: Final = frozenset(
    {
        "v",
        "site",
        "gateway",
        "boot",
        "seq",
        "sent_at_ms",
        "state",
        "firmware",
        "uptime_s",
        "journal_depth",
        "scan_rate",
        "clock_offset_ms",
    }
)
_MAX_TEXT: Final = 80
_KINDS: Final = frozenset(kind.value for kind in SightingKind)


def _scalar(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, bool | int | float)
        or (isinstance(value, str) and len(value) <= _MAX_TEXT)
    )


def redact_payload(payload: bytes) -> bytes:
    """The redacted JSON kept in place of ``payload`` (always a small JSON object)."""
    summary: dict[str, Any] = {
        "redacted": REDACTION_MARK,
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        summary["fields"] = {k: v for k, v in doc.items() if k in _SAFE_FIELDS and _scalar(v)}
        sightings = doc.get("sightings")
        if isinstance(sightings, list):
            kinds = Counter(
                s["kind"] if isinstance(s, dict) and s.get("kind") in _KINDS else "other" for s in sightings
            )
            summary["sightings"] = dict(sorted(kinds.items()))
    return json.dumps(summary, sort_keys=True, separators=(",", ":")).encode()


def is_redacted(payload: bytes | None) -> bool:
    """True for no payload or a payload made by :func:`redact_payload`."""
    if payload is None:
        return True
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("redacted") == REDACTION_MARK
