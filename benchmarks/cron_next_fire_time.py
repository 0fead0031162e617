"""Print how long CronTrigger.get_next_fire_time takes per call for a few typical schedules."""

from __future__ import annotations

import timeit
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

ZONE = ZoneInfo("Europe/Berlin")
PREVIOUS = datetime(2024, 5, 1, 10, 0, tzinfo=ZONE)
SCHEDULES = {
    "minute='*/5'": lambda: CronTrigger(minute="*/5", timezone=ZONE),
    "hour=3": lambda: CronTrigger(hour=3, timezone=ZONE),
    "day_of_week='mon-fri', hour='9-17'": lambda: CronTrigger(
        day_of_week="mon-fri", hour="9-17", timezone=ZONE
    ),
    "day='last fri', hour=18": lambda: CronTrigger(day="last fri", hour=18, timezone=ZONE),
    "from_crontab('30 2 * * *')": lambda: CronTrigger.from_crontab("30 2 * * *", timezone=ZONE),
}


def time_single_call(trigger: CronTrigger, calls: int = 50_000) -> float:
    """Return the best time per call, in µs, for one previous fire time asked repeatedly."""
    timer = timeit.Timer(lambda: trigger.get_next_fire_time(PREVIOUS, PREVIOUS))
    return min(timer.repeat(repeat=5, number=calls)) / calls * 1e6


def time_consecutive_calls(trigger: CronTrigger, calls: int = 2_000) -> float:
    """Return the best time per call, in µs, walking through consecutive fire times."""

    def run() -> None:
        fire_time = None
        for _ in range(calls):
            fire_time = trigger.get_next_fire_time(fire_time, PREVIOUS)

    return min(timeit.repeat(run, repeat=5, number=1)) / calls * 1e6


def main() -> None:
    print(f"{'schedule':40} {'one call':>10} {'consecutive':>12}")
    for label, make_trigger in SCHEDULES.items():
        trigger = make_trigger()
        single = time_single_call(trigger)
        consecutive = time_consecutive_calls(trigger)
        print(f"{label:40} {single:7.2f} µs {consecutive:9.2f} µs")


if __name__ == "__main__":
    main()
