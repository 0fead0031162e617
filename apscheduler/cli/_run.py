"""
``apscheduler run CONFIG``: a :class:`~apscheduler.schedulers.blocking.BlockingScheduler` from
a configuration file (see :mod:`apscheduler.cli._config`), until SIGINT or SIGTERM.

The jobs the file declares are stored under the file's ``id_prefix`` (by default its name and
a colon: ``schedule:heartbeat``). That prefix is how the command knows the jobs it made: with
``--reconcile`` it adds the declared jobs that are missing, replaces those whose definition
changed, and removes the stored jobs with the prefix that the file no longer declares. Jobs
without the prefix are never touched. Without ``--reconcile`` it only adds the missing ones,
so that a job paused from elsewhere stays paused across restarts.
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.cli._config import JobSpec, ScheduleFile, load_config
from apscheduler.cli._output import EXIT_OK, CommandError, StoreError, print_json, print_lines
from apscheduler.cli._triggers import trigger_from_table, trigger_from_text

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.triggers.base import BaseTrigger

#: the signals that stop the scheduler cleanly
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Plan:
    """What reconciling the store with the file does, by stored job id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            *(f"added {job_id}" for job_id in self.added),
            *(f"updated {job_id}" for job_id in self.updated),
            *(f"removed {job_id} (no longer declared)" for job_id in self.removed),
        ]


class StopRequested(BaseException):
    """
    Raised in the main thread by SIGINT or SIGTERM, to leave the scheduler's loop; not an
    Exception, so that no handler of errors on the way catches it (as KeyboardInterrupt).
    """


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        parents=parents,
        help="run a scheduler from a configuration file (TOML, JSON or YAML)",
        description=(
            "Run a blocking scheduler configured by CONFIG, with the jobs it declares, until "
            "interrupted (Ctrl-C, SIGTERM)."
        ),
        epilog="exit codes: 0 stopped cleanly, 2 bad file, 3 store unreachable",
    )
    parser.add_argument("config", metavar="CONFIG", help="the configuration file")
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help=(
            "make the store match the file: add and update the declared jobs and remove "
            "the jobs of the file's id_prefix that it no longer declares"
        ),
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only read the file and make its triggers; run nothing",
    )
    parser.add_argument(
        "--duration",
        metavar="SECONDS",
        type=float,
        help="stop cleanly after this many seconds (a smoke run, a demo)",
    )
    parser.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace) -> int:
    from apscheduler.schedulers.blocking import BlockingScheduler

    schedule = load_config(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        scheduler = BlockingScheduler(**schedule.scheduler)
    except (ImportError, LookupError, TypeError, ValueError) as exc:
        raise CommandError(f"{schedule.path}: bad scheduler configuration: {exc}") from None
    triggers = {job.declared_id: _trigger(scheduler, job) for job in schedule.jobs}
    if args.check:
        print(f"{schedule.path}: {len(schedule.jobs)} jobs, all triggers valid.")
        return EXIT_OK
    plan = reconcile(schedule, scheduler, triggers, remove_stale=args.reconcile)
    _report(args, plan)
    _add_jobs(schedule, scheduler, triggers, plan)
    with _stopping_on_signals(), _stopping_after(args.duration):
        try:
            scheduler.start()
        except StopRequested:
            pass
    if scheduler.running:
        scheduler.shutdown()
    return EXIT_OK


def _trigger(scheduler: BaseScheduler, job: JobSpec) -> BaseTrigger:
    try:
        if isinstance(job.trigger, str):
            return trigger_from_text(scheduler, job.trigger)
        return trigger_from_table(scheduler, job.trigger)
    except CommandError as exc:
        raise CommandError(f"job {job.declared_id!r}: {exc}") from None


def reconcile(
    schedule: ScheduleFile,
    scheduler: BaseScheduler,
    triggers: dict[str, BaseTrigger],
    *,
    remove_stale: bool,
) -> Plan:
    """
    Compare the file with the stores and remove the stale jobs; the jobs to add and update
    are added to the scheduler after (they reach the store when it starts).
    """
    from apscheduler.client import SchedulerClient

    plan = Plan()
    client = SchedulerClient(scheduler=_twin(schedule))
    try:
        stored = {job.id: job for job in client.get_jobs()}
        for spec in schedule.jobs:
            job_id = schedule.stored_id(spec)
            existing = stored.get(job_id)
            if existing is None:
                plan.added.append(job_id)
            elif remove_stale and _differs(existing, spec, triggers[spec.declared_id]):
                plan.updated.append(job_id)
            else:
                plan.unchanged.append(job_id)
        if remove_stale:
            declared = {schedule.stored_id(spec) for spec in schedule.jobs}
            for job_id in sorted(stored):
                if job_id.startswith(schedule.id_prefix) and job_id not in declared:
                    client.remove_job(job_id)
                    plan.removed.append(job_id)
    except Exception as exc:  # every store raises its own kind when it cannot be reached
        raise StoreError(f"the job store did not answer: {type(exc).__name__}: {exc}") from None
    finally:
        client.close()
    return plan


def _twin(schedule: ScheduleFile) -> BaseScheduler:
    """A scheduler with the file's stores that never starts: the client's view of them."""
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(**schedule.scheduler)


def _differs(job: Job, spec: JobSpec, trigger: BaseTrigger) -> bool:
    """Whether the stored job is not what the file declares (so it must be replaced)."""
    wanted: dict[str, Any] = {
        "func_ref": spec.func,
        "trigger": str(trigger),
        "args": tuple(spec.options.get("args", ())),
        "kwargs": dict(spec.options.get("kwargs", {})),
    }
    have: dict[str, Any] = {
        "func_ref": job.func_ref,
        "trigger": str(job.trigger),
        "args": tuple(job.args),
        "kwargs": dict(job.kwargs),
    }
    for name in ("name", "executor", "misfire_grace_time", "coalesce", "max_instances"):
        if name in spec.options:
            wanted[name], have[name] = spec.options[name], getattr(job, name)
    return wanted != have


def _add_jobs(
    schedule: ScheduleFile,
    scheduler: BaseScheduler,
    triggers: dict[str, BaseTrigger],
    plan: Plan,
) -> None:
    """Add the new and changed jobs; they are written to their stores when it starts."""
    to_store = set(plan.added) | set(plan.updated)
    for spec in schedule.jobs:
        job_id = schedule.stored_id(spec)
        if job_id not in to_store:
            continue
        try:
            scheduler.add_job(
                spec.func,
                triggers[spec.declared_id],
                id=job_id,
                replace_existing=True,
                **dict(spec.options),
            )
        except (ImportError, LookupError, TypeError, ValueError) as exc:
            raise CommandError(f"job {spec.declared_id!r}: {exc}") from None


def _report(args: argparse.Namespace, plan: Plan) -> None:
    if getattr(args, "json", False):
        print_json(plan.__dict__)
    else:
        print_lines(plan.lines() or ["the store already holds every declared job"])


@contextmanager
def _stopping_after(seconds: float | None) -> Iterator[None]:
    """Raise :class:`StopRequested` in the main thread after ``seconds`` (``None``: never)."""
    if seconds is None:
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise StopRequested("duration")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _stopping_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`StopRequested` in the main thread while it runs."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise StopRequested(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
