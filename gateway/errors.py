"""The gateway's exception tree.

::

    GatewayError
    ├── FrameError        a radio frame (advert payload) that does not follow its layout
    ├── ReaderFrameError  a card reader's frame or line that does not follow its format
    └── BackendError      a scanner backend used wrongly or unable to start

:class:`gateway.config.ConfigError` (a bad configuration file) stays a
``ValueError`` of its own: the CLI turns it into one readable line.
Parsers raise only their own error, whatever bytes they are given; the
gateway counts those errors and carries on.
"""

from __future__ import annotations

__all__ = ["BackendError", "FrameError", "GatewayError", "ReaderFrameError"]


class GatewayError(Exception):
    """Base of the gateway's own errors."""


class FrameError(GatewayError, ValueError):
    """An advert payload that does not follow its published layout. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ReaderFrameError(GatewayError, ValueError):
    """A card reader's frame or line that does not follow its format. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class BackendError(GatewayError, RuntimeError):
    """A scanner backend that was used before it started, or could not start."""
