"""
A TwistedScheduler running a job every second, under the Twisted reactor.

The demo stops by itself after three ticks.
"""

from __future__ import annotations

from datetime import datetime

from twisted.internet import reactor

from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.twisted import TwistedScheduler

TICKS = 3


def tick() -> None:
    print(f"Tick! The time is: {datetime.now():%H:%M:%S}")


def main() -> None:
    scheduler = TwistedScheduler()
    scheduler.add_job(tick, "interval", seconds=1, next_run_time=datetime.now().astimezone())
    ticks = []

    def count(event):  # jobs run in the reactor's thread pool, listeners in the reactor
        ticks.append(event)
        if len(ticks) == TICKS:
            scheduler.shutdown()
            reactor.stop()

    scheduler.add_listener(count, EVENT_JOB_EXECUTED)
    scheduler.start()  # before the reactor runs: the scheduler starts working with it
    reactor.run()


if __name__ == "__main__":
    main()
