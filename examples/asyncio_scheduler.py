"""
An AsyncIOScheduler running a coroutine job every second, inside ``asyncio.run()``.

The demo stops by itself after three ticks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.asyncio import AsyncIOScheduler

TICKS = 3


async def tick() -> None:
    print(f"Tick! The time is: {datetime.now():%H:%M:%S}")


async def main() -> None:
    scheduler = AsyncIOScheduler()
    scheduler.add_job(tick, "interval", seconds=1, next_run_time=datetime.now().astimezone())
    finished = asyncio.Event()
    ticks = []

    def count(event):  # listeners run on the event loop too
        ticks.append(event)
        if len(ticks) == TICKS:
            finished.set()

    scheduler.add_listener(count, EVENT_JOB_EXECUTED)
    scheduler.start()  # called in a coroutine, so it takes the running loop
    await finished.wait()  # a real program would go on with its work here
    scheduler.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
