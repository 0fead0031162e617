"""
``apscheduler next``: the next fire times of a trigger written as text, for checking a cron
line before trusting a job to it. Times where the zone's UTC offset changes (daylight saving
time starts or ends) are marked, as are times in an hour the clocks pass twice.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from apscheduler.cli._output import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    CommandError,
    print_json,
    print_lines,
    when,
)
from apscheduler.cli._triggers import trigger_from_text
from apscheduler.triggers.base import BaseTrigger


@dataclass(frozen=True)
class FireTime:
    """One fire time, and what the clocks do around it."""

    time: datetime
    #: the UTC offset changed since the previous fire time (or since the start)
    offset_changed: bool
    #: the wall time happens twice (the clocks fall back over it)
    repeated_hour: bool

    def marks(self, previous_offset: timedelta | None) -> list[str]:
        found = []
        if self.offset_changed and previous_offset is not None:
            found.append(
                f"UTC offset changes: {_offset(previous_offset)} -> "
                f"{_offset(self.time.utcoffset())}"
            )
        if self.repeated_hour:
            found.append("this wall time happens twice (clocks go back)")
        return found


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "next",
        parents=parents,
        help="show the next fire times of a crontab line or trigger arguments",
        description=(
            "Show the next fire times of a trigger, marking changes of the UTC offset "
            "(daylight saving time). EXPRESSION is a crontab line ('0 3 * * mon-fri') or a "
            "trigger alias with NAME=VALUE arguments ('cron hour=3 day_of_week=mon-fri', "
            "'interval hours=2')."
        ),
        epilog="exit codes: 0 fire times shown, 1 the trigger never fires, 2 bad expression",
    )
    parser.add_argument("expression", nargs="+", metavar="EXPRESSION")
    parser.add_argument(
        "--timezone", "-z", metavar="ZONE", help="time zone of the trigger (default: local)"
    )
    parser.add_argument(
        "-n", "--count", type=int, default=10, help="how many fire times (default: 10)"
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help="start from this time (ISO 8601; naive times are in the zone; default: now)",
    )
    parser.set_defaults(handler=run_next)


def run_next(args: argparse.Namespace) -> int:
    from apscheduler.schedulers.background import BackgroundScheduler

    if args.count < 1:
        raise CommandError("-n must be at least 1")
    zone = _zone(args.timezone)
    start = _start_time(args.start, zone)
    # "now" for the trigger (an interval's start, say) is the time asked about
    scheduler = BackgroundScheduler(timezone=zone, clock=_FixedClock(start))
    trigger = trigger_from_text(scheduler, " ".join(args.expression))
    fire_times = next_fire_times(trigger, start, args.count)
    if getattr(args, "json", False):
        print_json(_as_document(trigger, scheduler.timezone, start, fire_times))
    else:
        print_lines(_as_lines(trigger, start, fire_times))
    return EXIT_OK if fire_times else EXIT_NOT_FOUND


def next_fire_times(trigger: BaseTrigger, start: datetime, count: int) -> list[FireTime]:
    """Up to ``count`` fire times from ``start`` on, each with its clock marks."""
    found: list[FireTime] = []
    previous: datetime | None = None
    offset = start.utcoffset()
    while len(found) < count:
        fire_time = trigger.get_next_fire_time(previous, previous or start)
        if fire_time is None or (previous is not None and fire_time <= previous):
            break
        if fire_time < start:  # a date trigger's only time, say, already past
            previous = fire_time
            continue
        changed = fire_time.utcoffset() != offset
        found.append(FireTime(fire_time, changed, _is_repeated(fire_time)))
        previous, offset = fire_time, fire_time.utcoffset()
    return found


class _FixedClock:
    """A clock that stands still at one moment (the ``clock`` option of a scheduler)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self, tz: tzinfo) -> datetime:
        return self.moment.astimezone(tz)

    def monotonic(self) -> float:
        return time.monotonic()


def _zone(name: str | None) -> tzinfo:
    from tzlocal import get_localzone

    from apscheduler.util import astimezone

    if name is None:
        return get_localzone()
    try:
        zone = astimezone(name)
    except Exception as exc:  # zoneinfo raises several kinds of errors for a bad name
        raise CommandError(f"unknown time zone {name!r} ({exc})") from None
    assert zone is not None
    return zone


def _is_repeated(moment: datetime) -> bool:
    """Whether the wall time of ``moment`` stands for two instants in its zone."""
    naive = moment.replace(tzinfo=None)
    zone = moment.tzinfo
    first = naive.replace(fold=0, tzinfo=zone).utcoffset()
    second = naive.replace(fold=1, tzinfo=zone).utcoffset()
    return first != second and first is not None and second is not None and first > second


def _start_time(text: str | None, zone: tzinfo) -> datetime:
    if text is None:
        return datetime.now(zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--from: not an ISO 8601 time: {text!r}") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _as_lines(trigger: BaseTrigger, start: datetime, fire_times: list[FireTime]) -> list[str]:
    from apscheduler.triggers.words import describe_trigger

    lines = [f"Trigger: {describe_trigger(trigger)}", f"From:    {when(start)}"]
    if not fire_times:
        return [*lines, "It never fires again."]
    previous_offset = start.utcoffset()
    for fire_time in fire_times:
        text = f"  {when(fire_time.time)} ({_offset(fire_time.time.utcoffset())})"
        marks = fire_time.marks(previous_offset)
        lines.append(text + "".join(f"  <- {mark}" for mark in marks))
        previous_offset = fire_time.time.utcoffset()
    return lines


def _as_document(
    trigger: BaseTrigger, zone: tzinfo, start: datetime, fire_times: list[FireTime]
) -> dict[str, Any]:
    from apscheduler.triggers.words import describe_trigger

    return {
        "trigger": str(trigger),
        "description": describe_trigger(trigger),
        "timezone": str(zone),
        "from": start,
        "fire_times": [
            {
                "time": fire_time.time,
                "utc_offset": _offset(fire_time.time.utcoffset()),
                "offset_changed": fire_time.offset_changed,
                "repeated_hour": fire_time.repeated_hour,
            }
            for fire_time in fire_times
        ],
    }


def _offset(offset: timedelta | None) -> str:
    """``+02:00``: the offset as ISO 8601 writes it."""
    if offset is None:
        return "?"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
