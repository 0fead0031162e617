"""
A program written for APScheduler 3, run by ``test_user_install.py`` inside a virtual
environment that holds only the installed wheel, SQLAlchemy and redis.

It must not import anything from this repository: the test copies it out of the source tree
and runs it from a folder of its own, so that only the installed package can be imported.
Each mode prints one line of JSON for the test to check:

    python user_install_app.py imports MODULE... (``null`` or the ImportError's text each)
    python user_install_app.py run SQLITE_URL REDIS_OPTIONS_JSON
    python user_install_app.py check SQLITE_URL REDIS_OPTIONS_JSON
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import sys
import threading
import time
from datetime import datetime, timezone

#: the job store aliases of the program, and the job each of them holds
STORES = ("sql", "redis")
#: seconds to wait for something the scheduler does by itself
PATIENCE = 30

ran = {store: threading.Event() for store in STORES}


def ping(store):
    ran[store].set()


def make_scheduler(sqlite_url, redis_options):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_jobstore("sqlalchemy", alias="sql", url=sqlite_url)
    scheduler.add_jobstore("redis", alias="redis", **redis_options)
    return scheduler


def describe(job):
    return {
        "id": job.id,
        "name": job.name,
        "args": list(job.args),
        "trigger": str(job.trigger),
        "next_run_time": job.next_run_time.isoformat() if job.next_run_time else None,
    }


def listing(scheduler):
    return {
        store: [describe(job) for job in scheduler.get_jobs(jobstore=store)] for store in STORES
    }


def imports(*module_names):
    """Import each module, and say what is installed beside the package."""
    import apscheduler

    errors = {}
    for name in module_names:
        try:
            importlib.import_module(name)
            errors[name] = None
        except ImportError as exc:
            errors[name] = str(exc)

    installed = {}
    for dist in ("APScheduler", "tenacity", "tzlocal", "SQLAlchemy", "redis"):
        try:
            installed[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            installed[dist] = None

    drivers = ("pymongo", "bson", "kazoo", "etcd3", "rethinkdb")
    return {
        "apscheduler_file": apscheduler.__file__,
        "errors": errors,
        "installed": installed,
        "importable_drivers": [name for name in drivers if importlib.util.find_spec(name)],
    }


def run(sqlite_url, redis_options):
    """Add a job to each store, start, let both jobs run once, list them and shut down."""
    from apscheduler.events import EVENT_JOB_EXECUTED

    scheduler = make_scheduler(sqlite_url, redis_options)
    executed = []
    scheduler.add_listener(lambda event: executed.append(event.job_id), EVENT_JOB_EXECUTED)
    start = datetime.now(timezone.utc)
    for store in STORES:
        scheduler.add_job(
            ping, "interval", hours=1, args=[store], id=f"{store}-ping", jobstore=store,
            next_run_time=start, misfire_grace_time=None,
        )  # fmt: skip

    scheduler.start()
    try:
        ran_once = {store: event.wait(PATIENCE) for store, event in ran.items()}
        # A job runs while the scheduler moves it on to its next run time in the store, so
        # look until both have moved on.
        deadline = time.monotonic() + PATIENCE
        while any(job.next_run_time <= start for job in scheduler.get_jobs()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)

        listed = listing(scheduler)
    finally:
        scheduler.shutdown()

    return {
        "start": start.isoformat(),
        "ran": ran_once,
        "executed": sorted(executed),
        "listed": listed,
    }


def check(sqlite_url, redis_options):
    """What a restarted program finds in the stores."""
    scheduler = make_scheduler(sqlite_url, redis_options)
    scheduler.start(paused=True)
    try:
        return {"listed": listing(scheduler)}
    finally:
        scheduler.shutdown()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "imports":
        result = imports(*sys.argv[2:])
    else:
        result = {"run": run, "check": check}[mode](sys.argv[2], json.loads(sys.argv[3]))

    print(json.dumps(result))
