"""Structured key-value logging with personal identifiers redacted by default.

    log = get_logger(__name__)
    log.info("batch.committed", batches=3, rows=120)

renders ``batch.committed batches=3 rows=120``. Values of fields whose name
marks a student, badge or card identifier (see ``REDACTED_FIELDS``) are
replaced by ``<redacted>`` before any handler sees them, so no such
identifier reaches a log file even at debug level.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

__all__ = ["REDACTED_FIELDS", "Logger", "configure", "get_logger"]

REDACTED_FIELDS: Final = frozenset(
    {
        "student",
        "student_id",
        "student_key",
        "badge",
        "badge_id",
        "card",
        "card_id",
        "card_hash",
        "eid",
        "name",
        "guardian",
        "email",
        "phone",
        "address",
        "mac",
    }
)
_REDACTED: Final = "<redacted>"


def _render(value: object) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


class Logger:
    """A thin wrapper over :class:`logging.Logger` taking key-value fields."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _log(self, level: int, event: str, fields: dict[str, Any], *, exc_info: bool = False) -> None:
        if not self._logger.isEnabledFor(level):
            return
        parts = [event]
        for key, value in fields.items():
            shown = _REDACTED if key in REDACTED_FIELDS else value
            parts.append(f"{key}={_render(shown)}")
        self._logger.log(level, "%s", " ".join(parts), exc_info=exc_info, stacklevel=3)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields, exc_info=True)


def get_logger(name: str) -> Logger:
    return Logger(logging.getLogger(name))


def configure(level: str = "INFO") -> None:
    """Log to stderr, one line per event, with time, level and logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # paho logs every packet at debug level with topics; keep it at warnings.
    logging.getLogger("paho").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
