"""Values typed on the command line (``hours=2``, ``day_of_week=mon-fri``) as Python values."""

from __future__ import annotations

import json
from typing import Any

from apscheduler.cli._output import CommandError


def parse_value(text: str) -> Any:
    """A number, ``true``/``false``/``null`` or a JSON list or object as such; else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignments(pairs: list[str], what: str) -> dict[str, Any]:
    """
    ``["hours=2", "start_date=2026-01-01"]`` as ``{"hours": 2, "start_date": "2026-01-01"}``.

    :raises CommandError: for a text without ``=``
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        if not equals or not name:
            raise CommandError(f"expected NAME=VALUE for a {what}, got {pair!r}")
        values[name.strip()] = parse_value(text.strip())
    return values
