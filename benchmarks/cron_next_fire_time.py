"""Print how long CronTrigger.get_next_fire_time takes per call for a few typical schedules."""

from __future__ import annotations

import timeit
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

SCHEDULES = {
    "minute='*/5'": {"minute": "*/5"},
    "hour=3": {"hour": 3},
    "day_of_week='mon-fri', hour='9-17'": {"day_of_week": "mon-fri", "hour": "9-17"},
    "day='last fri', hour=18": {"day": "last fri", "hour": 18},
    "crontab '30 2 * * *'": None,
}


def main() -> None:
    zone = ZoneInfo("Europe/Berlin")
    previous = datetime(2024, 5, 1, 10, 0, tzinfo=zone)
    for label, fields in SCHEDULES.items():
        if fields is None:
            trigger = CronTrigger.from_crontab("30 2 * * *", timezone=zone)
        else:
            trigger = CronTrigger(timezone=zone, **fields)

        calls = 50_000
        timer = timeit.Timer(lambda: trigger.get_next_fire_time(previous, previous))
        best = min(timer.repeat(repeat=5, number=calls)) / calls
        print(f"{label:40} {best * 1e6:6.2f} µs/call")

        # a run of consecutive fire times, as a scheduler produces them
        fire_time = None
        sequence_calls = 2_000

        def run() -> None:
            nonlocal fire_time
            fire_time = None
            for _ in range(sequence_calls):
                fire_time = trigger.get_next_fire_time(fire_time, previous)

        best = min(timeit.repeat(run, repeat=5, number=1)) / sequence_calls
        print(f"{'  ... consecutive fire times':40} {best * 1e6:6.2f} µs/call")


if __name__ == "__main__":
    main()
