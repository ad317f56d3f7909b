"""``campus api run``."""

from __future__ import annotations

import argparse

from campus.settings import Settings
from dashboard_api.server import ApiServer

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("api", help="the dashboard API")
    asub = p.add_subparsers(dest="api_command", required=True)
    run = asub.add_parser("run", help="serve the API on settings.api_host:api_port until SIGINT/SIGTERM")
    run.set_defaults(handler=_run)


def _run(_args: argparse.Namespace, settings: Settings) -> int:
    ApiServer(settings).run()
    return 0
