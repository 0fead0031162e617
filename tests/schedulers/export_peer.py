"""
The jobs of the export round trip with APScheduler 3.11, and a script that runs under either.

``test_export_311.py`` runs this file with the Python of a virtualenv that holds the original
APScheduler 3.11 (``python -I export_peer.py import FILE`` or ``... export FILE``), and calls
:func:`run` in its own process to do the same with this library. It uses only API that both
libraries share, and prints what a user would look at: the jobs' options, their triggers and
the fire times that follow.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
#: an offset other than Berlin's in January: 14:04+02:00 is 13:04 in Berlin
PLUS_TWO = timezone(timedelta(hours=2))
TICK = "tests.schedulers.export_peer:tick"


def tick(*args: Any, **kwargs: Any) -> None:
    """The function of every job; the jobs never run."""


def add_jobs(scheduler: Any) -> None:
    """Add one job of each trigger kind, each with the first run time given, not computed."""
    from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
    from apscheduler.triggers.combining import AndTrigger, OrTrigger
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    start = datetime(2026, 1, 5, 14, 4, tzinfo=PLUS_TWO)
    jobs = {
        "date": (
            DateTrigger(run_date=datetime(2026, 1, 20, 9, 30, tzinfo=BERLIN)),
            datetime(2026, 1, 20, 9, 30, tzinfo=BERLIN),
        ),
        "interval": (
            IntervalTrigger(
                hours=1,
                start_date=start,
                end_date=datetime(2026, 6, 1, tzinfo=PLUS_TWO),
                timezone=BERLIN,
            ),
            start,
        ),
        "interval-utc": (
            IntervalTrigger(minutes=30, start_date=datetime(2026, 1, 5, 12, tzinfo=timezone.utc)),
            datetime(2026, 1, 5, 12, tzinfo=timezone.utc),
        ),
        "cron": (
            CronTrigger(
                day_of_week="mon-fri", hour="9-17/2", minute=15, start_date=start, timezone=BERLIN
            ),
            datetime(2026, 1, 5, 13, 15, tzinfo=BERLIN),
        ),
        "crontab": (
            CronTrigger.from_crontab("0 6 last * *", timezone="UTC"),
            datetime(2026, 1, 31, 6, tzinfo=timezone.utc),
        ),
        "calendar": (
            CalendarIntervalTrigger(
                months=1, hour=8, minute=30, start_date="2026-01-15", timezone=BERLIN
            ),
            datetime(2026, 1, 15, 8, 30, tzinfo=BERLIN),
        ),
        "either": (
            OrTrigger(
                [
                    CronTrigger(hour=6, timezone=BERLIN),
                    CronTrigger(hour=18, minute=30, timezone=BERLIN),
                ]
            ),
            datetime(2026, 1, 6, 6, tzinfo=BERLIN),
        ),
        "both": (
            AndTrigger(
                [
                    CronTrigger(day_of_week="mon", hour=9, timezone=BERLIN),
                    CronTrigger(day="1-7", hour=9, timezone=BERLIN),
                ]
            ),
            datetime(2026, 1, 5, 9, tzinfo=BERLIN),
        ),
        "paused": (CronTrigger(hour=3, timezone="UTC"), None),
    }
    for job_id, (trigger, next_run_time) in jobs.items():
        scheduler.add_job(
            TICK,
            trigger,
            id=job_id,
            args=[1, "two"],
            kwargs={"three": 3, "when": datetime(2026, 1, 5, 14, 4, tzinfo=PLUS_TWO)},
            next_run_time=next_run_time,
            misfire_grace_time=30,
            max_instances=2,
        )


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def describe_trigger(trigger: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"class": type(trigger).__name__, "str": str(trigger)}
    for name in ("run_date", "start_date", "end_date"):
        if getattr(trigger, name, None) is not None:
            info[name] = _iso(getattr(trigger, name))
    if getattr(trigger, "timezone", None) is not None:
        info["timezone"] = str(trigger.timezone)
    if hasattr(trigger, "triggers"):
        info["triggers"] = [describe_trigger(member) for member in trigger.triggers]
    return info


def describe(scheduler: Any) -> dict[str, Any]:
    """What each job of ``scheduler`` holds, and the three fire times after its next run time."""
    from apscheduler.triggers.combining import AndTrigger

    jobs = {}
    for job in scheduler.get_jobs():
        fire_times, previous = [], job.next_run_time
        while previous is not None and len(fire_times) < 3:
            if isinstance(job.trigger, AndTrigger):
                # given a previous fire time, 3.11's AndTrigger searches forever
                previous = job.trigger.get_next_fire_time(None, previous + timedelta(seconds=1))
            else:
                previous = job.trigger.get_next_fire_time(previous, previous)
            fire_times.append(_iso(previous))
        jobs[job.id] = {
            "func": job.func_ref,
            "name": job.name,
            "args": [type(job.args).__name__, list(job.args)],
            "kwargs": {
                key: _iso(v) if isinstance(v, datetime) else v for key, v in job.kwargs.items()
            },
            "options": [job.executor, job.misfire_grace_time, job.coalesce, job.max_instances],
            "trigger": describe_trigger(job.trigger),
            "next_run_time": _iso(job.next_run_time),
            "fire_times": fire_times,
        }
    return jobs


def run(command: str, path: str) -> dict[str, Any]:
    """
    ``import``: import the jobs of the file at ``path`` into a new scheduler and describe them.
    ``export``: add the jobs of :func:`add_jobs`, export them to ``path``, then do ``import``.
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    if command == "export":
        scheduler = BackgroundScheduler(timezone=BERLIN)
        scheduler.start(paused=True)
        try:
            add_jobs(scheduler)
            scheduler.export_jobs(path)
        finally:
            scheduler.shutdown(wait=False)

    scheduler = BackgroundScheduler(timezone=BERLIN)
    scheduler.start(paused=True)
    try:
        scheduler.import_jobs(path)
        return {"version": version("APScheduler"), "jobs": describe(scheduler)}
    finally:
        scheduler.shutdown(wait=False)


if __name__ == "__main__":
    # Last on the path: "apscheduler" stays the installed library, while the job function
    # comes from this repository's tests package.
    sys.path.append(str(Path(__file__).resolve().parents[2]))
    print(json.dumps(run(sys.argv[1], sys.argv[2])))
