"""
A TornadoScheduler running a coroutine job every second on Tornado's IOLoop.

The demo stops by itself after three ticks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.tornado import TornadoScheduler

TICKS = 3


async def tick() -> None:
    print(f"Tick! The time is: {datetime.now():%H:%M:%S}")


async def main() -> None:
    scheduler = TornadoScheduler()
    scheduler.add_job(tick, "interval", seconds=1, next_run_time=datetime.now().astimezone())
    finished = asyncio.Event()
    ticks = []

    def count(event):  # listeners run on the IOLoop
        ticks.append(event)
        if len(ticks) == TICKS:
            finished.set()

    scheduler.add_listener(count, EVENT_JOB_EXECUTED)
    scheduler.start()  # takes IOLoop.current(), the loop running this coroutine
    await finished.wait()  # a Tornado application would serve requests here
    scheduler.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
