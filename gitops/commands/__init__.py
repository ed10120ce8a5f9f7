"""Thin CLI commands: each module registers its arguments and calls one library function.

Modules here import only argparse at the top, so ``gitops --help`` starts fast and never
starts Node.js; the work happens in the library, imported inside ``run``.
"""

from __future__ import annotations

import argparse


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--blueprints DIR`` and ``--environments DIR`` (the inputs of a render)."""
    parser.add_argument(
        "--blueprints",
        default="blueprints",
        metavar="DIR",
        help="blueprints directory (default: %(default)s)",
    )
    parser.add_argument(
        "--environments",
        default="environments",
        metavar="DIR",
        help="environments directory (default: %(default)s)",
    )
