"""
The ``apscheduler`` command: check triggers (``next``), work on the jobs of running
schedulers (``jobs``), and run a scheduler from a configuration file (``run``).

Each subcommand lives in a module of its own with a ``register(subparsers, parents)``
function that adds its parser and sets ``handler``, the function that runs it and returns
the exit code. :data:`SUBCOMMANDS` lists those modules; one more line there adds a command.

Exit codes: 0 done, 1 the job is not there or there was nothing to do, 2 bad command line
or configuration file, 3 the store's URL is wrong or the store cannot be reached.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from apscheduler.cli._output import EXIT_OK, CommandError, print_error

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: the modules of the subcommands, in the order ``--help`` lists them; a module that cannot
#: be imported (its optional dependencies missing) is left out
SUBCOMMANDS: list[str] = [
    "apscheduler.cli._next",
    "apscheduler.cli._jobs",
    "apscheduler.cli._run",
    "apscheduler.cli._web",
]


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command, with every subcommand of :data:`SUBCOMMANDS`."""
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="write JSON for scripts instead of text for people",
    )
    parser = argparse.ArgumentParser(
        prog="apscheduler",
        description="Check triggers, manage the jobs of running schedulers, run a scheduler.",
        epilog=(
            "exit codes: 0 ok, 1 job not found or nothing to do, 2 usage error, "
            "3 store unreachable or bad store URL"
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        module.register(subparsers, [output])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's arguments); return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        exit_code: int = args.handler(args)
    except CommandError as exc:
        print_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader (``| head``) has gone: nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the interpreter's final flush
        return EXIT_OK
    return exit_code
