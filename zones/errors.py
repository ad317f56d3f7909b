"""The zones package's exceptions.

ZoneError                 anything zones refuses to do
├── ZoneFileError         a zones file (GeoJSON) that is malformed or fails the checks;
│                         ``problems`` lists every problem, one readable line each
└── UnknownSiteError      the site named for an import or export does not exist
"""

from __future__ import annotations

__all__ = ["UnknownSiteError", "ZoneError", "ZoneFileError"]

# The message of a ZoneFileError names this many problems; ``problems`` has them all.
_SHOWN_IN_MESSAGE = 3


class ZoneError(Exception):
    """Base class of the zones package's errors; the message is readable as is."""


class ZoneFileError(ZoneError):
    """A zones file that cannot be imported. Nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:_SHOWN_IN_MESSAGE])
        more = len(problems) - _SHOWN_IN_MESSAGE
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"invalid zones file: {shown}{suffix}")
        self.problems = problems


class UnknownSiteError(ZoneError):
    """The site does not exist (add it first with ``campus site add``)."""

    def __init__(self, site_id: str) -> None:
        super().__init__(
            f"unknown site {site_id!r}: add it first with 'campus site add {site_id} --name ...'"
        )
        self.site_id = site_id
