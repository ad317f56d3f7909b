"""The ``campus`` command. Each domain package adds its subcommands from its own ``cli.py``.

Every command builds one :class:`~campus.settings.Settings`, returns an exit
code, and turns expected failures (:class:`CommandError`, an unreachable
database, invalid settings) into one readable line on stderr instead of a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from campus import db
from campus.logs import configure, get_logger
from campus.settings import Settings

__all__ = ["CommandError", "main"]

log = get_logger(__name__)

# Domain packages that contribute subcommands (each has register(subparsers)).
COMMAND_MODULES = (
    "campus.commands",
    "campus.platform",
    "gateway.cli",
    "ingest.cli",
    "dashboard_api.cli",
    "zones.cli",
    "firmware_sim.cli",
    "privacy.cli",
    "privacy.ops_cli",
)

Handler = Callable[[argparse.Namespace, Settings], int]


class CommandError(Exception):
    """An expected failure of a command; its message is shown to the user as is."""


def _settings_error(exc: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return f"invalid settings: {problems}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="campus", description="Campus presence platform")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(args.log_level)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"campus: {_settings_error(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"campus: {exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except (CommandError, db.DatabaseError) as exc:
        print(f"campus: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
