"""
Start and stop an AsyncIOScheduler with a web application's lifespan.

Web frameworks built on asyncio (FastAPI, Starlette, Quart, aiohttp...) run the application
inside their own event loop, and offer a "lifespan" hook that runs code when the application
starts and when it stops. That is where the scheduler starts and shuts down. With FastAPI the
shape is::

    from contextlib import asynccontextmanager
from datetime import datetime, timezone
    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler = AsyncIOScheduler()
        scheduler.add_job(refresh_rates, "interval", minutes=5, args=[app])
        scheduler.start()  # inside the running loop: no event_loop option needed
        app.state.scheduler = scheduler
        yield  # the application serves requests here
        scheduler.shutdown()

    app = FastAPI(lifespan=lifespan)

This file needs nothing but the standard library: ``App`` stands in for the framework's
application object and ``main()`` for the server, which here serves until the job has
refreshed the rates a few times.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from types import SimpleNamespace

from apscheduler.schedulers.asyncio import AsyncIOScheduler


class App:
    """Stands in for the web framework's application object, with its ``state``."""

    def __init__(self) -> None:
        self.state = SimpleNamespace(rates={}, refreshes=0, refreshed=asyncio.Event())


async def refresh_rates(app: App) -> None:
    """A coroutine job: it runs on the application's event loop, between requests."""
    await asyncio.sleep(0)  # where a real job would await an HTTP request or a database
    app.state.rates = {"EUR": round(random.uniform(0.9, 1.1), 4)}
    app.state.refreshes += 1
    app.state.refreshed.set()


@asynccontextmanager
async def lifespan(app: App, interval: float = 1.0) -> AsyncIterator[None]:
    scheduler = AsyncIOScheduler()
    # An interval job first runs one interval after it is added; this one runs at once too.
    scheduler.add_job(
        refresh_rates,
        "interval",
        seconds=interval,
        args=[app],
        next_run_time=datetime.now(timezone.utc),
    )
    scheduler.start()
    app.state.scheduler = scheduler
    try:
        yield
    finally:
        scheduler.shutdown()


async def main(refreshes: int = 3, interval: float = 1.0) -> int:
    """Serve until the rates were refreshed ``refreshes`` times; return how many times."""
    app = App()
    async with lifespan(app, interval):
        while app.state.refreshes < refreshes:
            await app.state.refreshed.wait()
            app.state.refreshed.clear()
            print(f"Refresh {app.state.refreshes}: {app.state.rates}")

    print("The application stopped, and its scheduler with it:", not app.state.scheduler.running)
    return app.state.refreshes


if __name__ == "__main__":
    asyncio.run(main())
