"""
What a command shows: human text by default, JSON with ``--json``; errors as one line on
standard error with an exit code that says what went wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

#: exit codes
EXIT_OK = 0
#: the job is not there, or there was nothing to show or do
EXIT_NOT_FOUND = 1
#: the command line or a file it names is wrong (argparse uses 2 as well)
EXIT_USAGE = 2
#: the store could not be reached, or its URL or configuration is wrong
EXIT_STORE = 3


class CommandError(Exception):
    """An error the user can act on: shown without a traceback, ending the command."""

    exit_code = EXIT_USAGE


class NotFoundError(CommandError):
    """The job asked for is not in the store."""

    exit_code = EXIT_NOT_FOUND


class StoreError(CommandError):
    """The store's URL or configuration is wrong, or the store does not answer."""

    exit_code = EXIT_STORE


def to_plain(value: Any) -> Any:
    """``value`` as JSON can hold it: times as ISO 8601 text, tuples as lists."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, tzinfo):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [to_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def print_json(value: Any) -> None:
    """One JSON document on standard output."""
    json.dump(to_plain(value), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print(line)


def print_error(message: str) -> None:
    print(f"apscheduler: error: {message}", file=sys.stderr)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows in columns as wide as their widest cell, the last column left ragged."""
    widths = [max(len(row[column]) for row in (headers, *rows)) for column in range(len(headers))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]


def when(moment: datetime | None) -> str:
    """A time for people: local to its zone, with the zone's abbreviation."""
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()
