"""Subcommands of this package (registered by ``campus.cli``)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """No subcommand yet: each is added here once it works."""
    del sub
