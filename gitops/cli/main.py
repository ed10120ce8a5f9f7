"""The entry point: one parser for every command; errors mapped to exit codes.

Exit codes: 0 success (or in sync), 1 differences or changes found (diff, plan, check), 2 error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitops import __version__

#: Values of ``--color``.
COLOR_CHOICES = ("auto", "always", "never")
#: Subcommands, each a module of :mod:`gitops.cli.common` with ``register`` and ``run``.
COMMANDS = ("init", "build", "render", "check", "diff", "plan", "apply", "set", "completion")


class Parser(argparse.ArgumentParser):
    """An argument parser that never takes a prefix of an option for the option.

    ``--env`` must not silently mean ``--environments``: abbreviations are off for the
    top-level parser and every subcommand (subparsers are created with this class).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand registered."""
    parser = Parser(
        prog="gitops",
        description="Render inference stacks and guardrails into a GitOps repository, "
        "and reconcile it with live clusters.",
    )
    parser.add_argument("--version", action="version", version=f"gitops {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="ANSI colors: auto (a terminal, unless $NO_COLOR is set), always, never "
        "(default: %(default)s)",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"gitops.cli.{name}")
        except ModuleNotFoundError as err:  # a command still being built is left out
            if err.name != f"gitops.cli.{name}":
                raise
            continue
        command = module.register(sub)
        command.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks and debug logs",
        )
        command.add_argument(
            "--color",
            choices=COLOR_CHOICES,
            default=argparse.SUPPRESS,
            help="ANSI colors: auto, always, never (default: auto; $NO_COLOR turns auto off)",
        )
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from gitops.core.errors import GitOpsError

    try:
        code: int = args._run(args)
    except GitOpsError as err:
        return _failed(args.command, str(err), debug)
    except KeyboardInterrupt:
        print(f"gitops {args.command}: interrupted", file=sys.stderr)
        return 2
    except (Exception, SystemExit) as err:
        # A bug or an input no check foresaw must still be an error (exit 2), never exit 1,
        # which check, diff and plan use for "denied" and "differences"; a SystemExit from
        # a blueprint must not end the run with its code either. The exception's text is
        # not shown: it may quote any value, a Secret's included; its type and where it
        # was raised are.
        where = traceback.extract_tb(err.__traceback__)[-1:]
        at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
        message = f"unexpected {type(err).__name__}{at} (--debug shows the traceback)"
        return _failed(args.command, message, debug)
    return code


def _failed(command: str, message: str, debug: bool) -> int:
    """Report a failure as one line (a traceback first with ``--debug``); exit code 2."""
    if debug:
        traceback.print_exc()
    print(f"gitops {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
