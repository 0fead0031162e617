"""
Triggers written as text: a crontab line (``"0 3 * * mon-fri"``) or a trigger's plugin alias
and its arguments (``"cron hour=3 day_of_week=mon-fri"``, ``"interval hours=2"``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from apscheduler.cli._output import CommandError
from apscheduler.cli._values import parse_assignments
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger

#: the number of fields of a crontab line (minute, hour, day of month, month, day of week)
CRONTAB_FIELDS = 5


def trigger_from_text(scheduler: BaseScheduler, text: str) -> BaseTrigger:
    """
    The trigger ``text`` describes, in the scheduler's time zone unless it names one.

    :raises CommandError: if ``text`` is neither a known alias with arguments nor a crontab line
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise CommandError(f"cannot read the trigger {text!r}: {exc}") from None
    if not words:
        raise CommandError("the trigger expression is empty")
    alias, arguments = words[0], words[1:]
    if alias in _trigger_aliases(scheduler):
        return trigger_from_table(
            scheduler, {"type": alias, **parse_assignments(arguments, "trigger argument")}
        )
    if len(words) == CRONTAB_FIELDS and "=" not in text:
        return _from_crontab(scheduler, text)
    known = ", ".join(sorted(_trigger_aliases(scheduler)))
    raise CommandError(
        f"cannot read the trigger {text!r}: expected a crontab line of five fields, "
        f"or a trigger type ({known}) followed by NAME=VALUE arguments"
    )


def trigger_from_table(scheduler: BaseScheduler, table: Mapping[str, Any]) -> BaseTrigger:
    """
    The trigger of a table such as ``{"type": "cron", "hour": 3}``.

    :raises CommandError: for an unknown type or arguments the trigger refuses
    """
    arguments = dict(table)
    alias = arguments.pop("type", None)
    if not isinstance(alias, str):
        raise CommandError(f"a trigger table needs a 'type' (a trigger alias): {dict(table)}")
    try:
        return scheduler._create_trigger(alias, arguments)
    except LookupError:
        raise CommandError(f"unknown trigger {alias!r}") from None
    except (TypeError, ValueError) as exc:
        raise CommandError(f"bad arguments for the {alias} trigger: {exc}") from None


def _from_crontab(scheduler: BaseScheduler, line: str) -> BaseTrigger:
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(line, timezone=scheduler.timezone)
    except ValueError as exc:
        raise CommandError(f"bad crontab line {line!r}: {exc}") from None


def _trigger_aliases(scheduler: BaseScheduler) -> set[str]:
    """The aliases of the built-in triggers and of those installed as plugins."""
    return set(scheduler._trigger_plugins) | set(scheduler._trigger_classes)
