"""
A scheduler with two jobs, one on an interval and one on a cron schedule.

The jobs live in a SQLite file (``demo.sqlite`` in the current folder), so a second run finds
them already stored, with the history of their runs. The demo stops by itself after about ten seconds, or on Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler

RUN_FOR_SECONDS = 10


def say_tick() -> None:
    print(f"{datetime.now():%H:%M:%S}  interval job: tick (every 3 seconds)")


def say_cron(label: str) -> None:
    print(f"{datetime.now():%H:%M:%S}  cron job: {label} (at seconds 0, 5, 10, ...)")


def main() -> None:
    # Show the scheduler's warnings, such as run times missed while the demo was not running.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s  %(levelname)s  %(message)s")

    scheduler = BackgroundScheduler(
        jobstores={"default": {"type": "sqlalchemy", "url": "sqlite:///demo.sqlite"}}
    )
    # Start paused: the store is opened, but nothing runs until the jobs are in place.
    scheduler.start(paused=True)
    stored = scheduler.get_jobs()
    if stored:
        print(f"Found {len(stored)} job(s) in demo.sqlite from an earlier run:")
        scheduler.print_jobs()
    else:
        print("demo.sqlite holds no jobs yet: adding them")

    # Fixed ids and replace_existing: a rerun updates the stored jobs instead of adding copies.
    scheduler.add_job(say_tick, "interval", seconds=3, id="tick", replace_existing=True)
    scheduler.add_job(
        say_cron, "cron", second="*/5", args=["hello"], id="cron", replace_existing=True
    )
    scheduler.resume()
    print(f"Running for {RUN_FOR_SECONDS} seconds (Ctrl-C stops sooner)")

    try:
        time.sleep(RUN_FOR_SECONDS)
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown()
        print("Stopped. The jobs stay in demo.sqlite; run the demo again to see them.")

    # The store keeps the history of the runs too, across runs of the demo.
    print("The last runs recorded in demo.sqlite:")
    for run in scheduler.get_job_runs(limit=5):
        print(f"    {run.scheduled_run_time.astimezone():%H:%M:%S}  {run.job_id:5}  {run.state}")


if __name__ == "__main__":
    main()
