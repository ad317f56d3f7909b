"""Exceptions of privacy operations (retention, backups, breach records).

::

    OpsError                    an expected failure; the message is one readable sentence
    ├── BackupError             a backup could not be made, read, restored or verified
    └── BreachError             a breach record does not exist or cannot change that way

:class:`privacy.backup_format.ArchiveError` (a damaged, truncated or foreign
archive) is mapped to :class:`BackupError` at the service boundary.
"""

from __future__ import annotations

__all__ = ["BackupError", "BreachError", "OpsError"]


class OpsError(Exception):
    """An expected failure of a privacy operation."""


class BackupError(OpsError):
    """A backup could not be made, read, restored or verified."""


class BreachError(OpsError):
    """A breach record does not exist, or cannot change that way."""
