"""
Scenario: the cost of one ``CronTrigger.get_next_fire_time`` call for typical schedules.

Two figures per schedule, each the best of a few repeats in µs per call (so a burst of noise
from other processes does not count): ``consecutive`` walks through consecutive fire times
(each call gets the previous result), which is what the scheduler does after every run;
``from_now`` asks for the first fire time after a given moment, as when a job is added.
"""

from __future__ import annotations

import math
import timeit
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from _common import ZONE_NAME, emit, parse_args

SCHEDULES = {
    "every 5 min": {"minute": "*/5"},
    "daily 03:00": {"hour": 3},
    "weekdays 9-17 hourly": {"day_of_week": "mon-fri", "hour": "9-17"},
    "last fri 18:00": {"day": "last fri", "hour": 18},
    "crontab 30 2 * * *": "30 2 * * *",
}


def consecutive_us(trigger, start: datetime, calls: int, repeats: int) -> float:
    def walk() -> None:
        fire_time = None
        for _ in range(calls):
            fire_time = trigger.get_next_fire_time(fire_time, start)

    return min(timeit.repeat(walk, repeat=repeats, number=1)) / calls * 1e6


def from_now_us(trigger, start: datetime, calls: int, repeats: int) -> float:
    # moments spread over a few weeks, at odd seconds, so no call is a lucky exact match
    moments = [start + timedelta(seconds=7_919 * index + 13) for index in range(calls)]

    def ask() -> None:
        for moment in moments:
            trigger.get_next_fire_time(None, moment)

    return min(timeit.repeat(ask, repeat=repeats, number=1)) / calls * 1e6


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(value) for value in values) / len(values))


def main() -> None:
    options = parse_args(__doc__, {"calls": 2_000, "repeats": 5})

    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(ZONE_NAME)
    start = datetime(2024, 5, 1, 10, 0, tzinfo=zone)
    consecutive = {}
    from_now = {}
    for label, fields in SCHEDULES.items():
        if isinstance(fields, str):
            trigger = CronTrigger.from_crontab(fields, timezone=zone)
        else:
            trigger = CronTrigger(timezone=zone, **fields)
        consecutive[label] = consecutive_us(trigger, start, options.calls, options.repeats)
        from_now[label] = from_now_us(trigger, start, options.calls, options.repeats)

    emit(
        {
            "consecutive_us": consecutive,
            "from_now_us": from_now,
            "consecutive_geomean_us": geometric_mean(list(consecutive.values())),
            "from_now_geomean_us": geometric_mean(list(from_now.values())),
        }
    )


if __name__ == "__main__":
    main()
