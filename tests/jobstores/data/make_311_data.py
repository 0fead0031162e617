"""
Writes the APScheduler 3.11 data files that ``test_compat_3x.py`` reads.

Run it with the original APScheduler 3.11 and SQLAlchemy installed in a separate virtualenv,
never in this library's environment::

    /path/to/other/venv/bin/python tests/jobstores/data/make_311_data.py

It writes ``apscheduler-3.11.sqlite`` (a job table as SQLAlchemyJobStore made it) and
``apscheduler-3.11-jobs.json``: for each job the pickles as every 3.11 store layout holds
them, its ``str()`` and the fire times its trigger gave under 3.11 after the stored one.
"""

from __future__ import annotations

import json
import pickle
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import datetime_to_utc_timestamp

HERE = Path(__file__).parent
# The repository goes last on the path: "apscheduler" must stay the installed 3.11 package,
# while the job functions come from the test support module.
sys.path.append(str(HERE.parents[2]))
from tests.jobstores.support import Counter  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TICK = "tests.jobstores.support:tick"


def main() -> None:
    database = HERE / "apscheduler-3.11.sqlite"
    database.unlink(missing_ok=True)
    store = SQLAlchemyJobStore(url=f"sqlite:///{database}")
    # never started: jobs go straight into the store, so nothing runs or moves them
    scheduler = BackgroundScheduler(timezone=BERLIN)
    store.start(scheduler, "default")

    def add(job_id, trigger, next_run_time, func=TICK, **options):
        options.setdefault("args", ())
        options.setdefault("kwargs", {})
        options.setdefault("misfire_grace_time", 1)
        options.setdefault("coalesce", False)
        options.setdefault("max_instances", 1)
        job = Job(scheduler, id=job_id, func=func, trigger=trigger, executor="default",
                  next_run_time=next_run_time, **options)  # fmt: skip
        store.add_job(job)

    add("interval", IntervalTrigger(minutes=30, start_date=datetime(2026, 3, 1, 13, tzinfo=BERLIN),
        timezone=BERLIN), T0, args=(1, "two"), kwargs={"three": 3}, misfire_grace_time=30,
        coalesce=True, max_instances=3)  # fmt: skip
    add("cron", CronTrigger(day_of_week="mon-fri", hour="9-17/2", minute=15, timezone=BERLIN,
        jitter=5), datetime(2026, 3, 2, 9, 15, tzinfo=BERLIN), name="weekday cron")  # fmt: skip
    add("crontab", CronTrigger.from_crontab("0 6 last * *", timezone="UTC"),
        datetime(2026, 3, 31, 6, tzinfo=timezone.utc))  # fmt: skip
    add("date", DateTrigger(run_date=T0, timezone=timezone.utc), T0)
    add("paused", CronTrigger(hour=3), None)
    add("calendar", CalendarIntervalTrigger(months=1, hour=8, start_date="2026-03-01",
        timezone=BERLIN), datetime(2026, 3, 1, 8, tzinfo=BERLIN))  # fmt: skip
    add("either", OrTrigger([CronTrigger(hour=6, timezone=BERLIN),
        IntervalTrigger(hours=5, start_date=T0)]), datetime(2026, 3, 2, 6, tzinfo=BERLIN))  # fmt: skip
    add("both", AndTrigger([CronTrigger(day_of_week="sat", hour="10-12", timezone=BERLIN),
        IntervalTrigger(hours=2, start_date=T0)]), datetime(2026, 3, 7, 10, tzinfo=BERLIN))  # fmt: skip
    add("method", IntervalTrigger(hours=1, start_date=T0), T0, func=Counter(41).run)

    jobs = {}
    for job in store.get_all_jobs():
        state = job.__getstate__()
        run_time = datetime_to_utc_timestamp(job.next_run_time)
        wrapped = {"next_run_time": run_time, "job_state": state}
        # the fire times that follow the stored one, as the scheduler asks for them after each
        # run; jitter is random, and 3.11's AndTrigger can search forever: none for those
        fire_times, previous = [], job.next_run_time
        if not getattr(job.trigger, "jitter", None) and not isinstance(job.trigger, AndTrigger):
            while previous is not None and len(fire_times) < 3:
                previous = job.trigger.get_next_fire_time(previous, previous)
                fire_times.append(previous and previous.isoformat())
        jobs[job.id] = {
            "next_run_time": run_time,
            "job_state": pickle.dumps(state, pickle.HIGHEST_PROTOCOL).hex(),
            "wrapped": pickle.dumps(wrapped, pickle.HIGHEST_PROTOCOL).hex(),
            "str": str(job),
            "fire_times": fire_times,
        }
    store.shutdown()
    text = json.dumps(jobs, indent=1, sort_keys=True)
    (HERE / "apscheduler-3.11-jobs.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
