"""
A GeventScheduler running a job every second, in a monkey patched program.

The demo stops by itself after three ticks.
"""

from __future__ import annotations

# Patch the standard library before anything else imports it, as gevent programs do.
from gevent import monkey

monkey.patch_all()

from datetime import datetime  # noqa: E402

from gevent.event import Event  # noqa: E402

from apscheduler.events import EVENT_JOB_EXECUTED  # noqa: E402
from apscheduler.schedulers.gevent import GeventScheduler  # noqa: E402

TICKS = 3


def tick() -> None:
    print(f"Tick! The time is: {datetime.now():%H:%M:%S}")


def main() -> None:
    scheduler = GeventScheduler()
    scheduler.add_job(tick, "interval", seconds=1, next_run_time=datetime.now().astimezone())
    finished = Event()
    ticks = []

    def count(event):  # listeners run in the job's greenlet
        ticks.append(event)
        if len(ticks) == TICKS:
            finished.set()

    scheduler.add_listener(count, EVENT_JOB_EXECUTED)
    scheduler.start()  # returns the scheduler's greenlet at once
    finished.wait()  # a real program would serve requests here, or join that greenlet
    scheduler.shutdown()


if __name__ == "__main__":
    main()
