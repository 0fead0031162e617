"""
A web application served by gunicorn with four worker processes, each running a scheduler.

Every worker starts a :class:`~apscheduler.schedulers.background.BackgroundScheduler` on the
same PostgreSQL job table (see ``gunicorn.conf.py``: the scheduler starts in gunicorn's
``post_fork`` hook, once per worker). The workers share the jobs: each run of a job happens in
exactly one of them, and if a worker dies, the others take over its jobs.

Run it with::

    pip install gunicorn "psycopg[binary]"
    export DATABASE_URL=postgresql+psycopg://user:password@localhost/mydb
    gunicorn -c gunicorn.conf.py app:application

and open http://127.0.0.1:8000/ to see the jobs and which worker answered.
"""

from __future__ import annotations

import json
import os

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.schedulers.background import BackgroundScheduler

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg://localhost/postgres")
JOBS_TABLE = os.environ.get("JOBS_TABLE", "apscheduler_jobs")

scheduler = BackgroundScheduler(
    jobstores={"default": {"type": "sqlalchemy", "url": DATABASE_URL, "tablename": JOBS_TABLE}},
    timezone="UTC",
)


def heartbeat() -> None:
    """A job that runs every second, in whichever worker claims it."""


def nightly_cleanup() -> None:
    """A job that runs at 03:00 every night, in one worker only."""


def log_run(event: JobExecutionEvent) -> None:
    print(
        f"ran {event.job_id} scheduled {event.scheduled_run_time.isoformat()} "
        f"in worker {os.getpid()}",
        flush=True,
    )


def start_scheduler() -> None:
    """Start this worker's scheduler; the first worker to start stores the jobs."""
    scheduler.add_listener(log_run, EVENT_JOB_EXECUTED)
    scheduler.start()
    # The jobs live in the database: they are there already unless this is the first start.
    # (replace_existing=True would reset them at every start, and in every worker.)
    for func, trigger, options in [
        (heartbeat, "interval", {"seconds": 1}),
        (nightly_cleanup, "cron", {"hour": 3}),
    ]:
        try:
            scheduler.add_job(func, trigger, id=func.__name__, **options)
        except ConflictingIdError:
            pass


def stop_scheduler() -> None:
    if scheduler.running:
        scheduler.shutdown()


def application(environ: dict, start_response) -> list[bytes]:
    """Show the jobs with their next run times, and which worker process answered."""
    jobs = {job.id: str(job.next_run_time) for job in scheduler.get_jobs()}
    body = json.dumps({"worker": os.getpid(), "jobs": jobs}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
