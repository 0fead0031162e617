"""
A scheduler process paused for longer than the lease never starts a run taken over meanwhile.

A process can stop without dying: SIGSTOP, a long garbage collection, a suspended VM. If that
lasts longer than the lease, another scheduler takes over what the paused one held, and the
paused one must not start those runs when it resumes. Two windows, each with real processes on
a real store and a lease of one second:

* claimed, not yet started in the store: the process that took the claim over runs the job,
  and the start of the paused one comes back ``lost``;
* started in the store and submitted, but still queued in the executor: the other process
  reports the run missed (taken over as abandoned), and the paused one refuses to start it,
  with a warning.

The worker processes record what they hear from the store (see
:func:`tests.multiprocess.worker.seamed_store`), so the tests wait for events, not for time.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .harness import ChaosConfig, Record, StoreSpec, Worker, read
from .test_chaos import postgresql_spec, sqlite_spec  # noqa: F401 (fixtures, used by name)
from .test_chaos_mongodb import mongodb_spec  # noqa: F401 (fixture, used by name)
from .test_chaos_redis import redis_spec  # noqa: F401 (fixture, used by name)

UTC = timezone.utc
LEASE_TIME = 1.0
#: the longest a test waits for one step (each takes a lease time or two)
STEP_DEADLINE = 15.0
SEAMED_STORE = "tests.multiprocess.worker:seamed_store"
OUTCOMES = ("started", "lost", "max_instances")
REFUSAL = 'Run of job "victim" (scheduled at {}) not started'

T = TypeVar("T")


@pytest.fixture(
    params=[
        pytest.param("sqlite_spec", id="sqlite"),
        pytest.param("postgresql_spec", id="postgresql", marks=pytest.mark.external_service),
        pytest.param("redis_spec", id="redis", marks=pytest.mark.external_service),
        pytest.param("mongodb_spec", id="mongodb", marks=pytest.mark.external_service),
    ]
)
def store_spec(request: pytest.FixtureRequest) -> StoreSpec:
    spec: StoreSpec = request.getfixturevalue(request.param)
    return spec.with_options(lease_time=LEASE_TIME)


def pid_of(worker: Worker) -> int:
    assert worker.process is not None, "not started"
    return worker.process.pid


def is_stopped(pid: int) -> bool:
    """Tell whether every thread of the process is stopped by a signal (Linux: state T)."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except FileNotFoundError:
            continue  # a thread that has just ended
    return bool(states) and all(state in ("T", "t") for state in states)


def is_running(pid: int) -> bool:
    return not is_stopped(pid)


class Scenario:
    """The worker processes of one test, their records and their output."""

    def __init__(self, spec: StoreSpec, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.workers: list[Worker] = []
        workdir.mkdir(parents=True, exist_ok=True)

    def put_jobs(self, *jobs: tuple[str, str, list[Any], float]) -> None:
        """
        Store hourly jobs (id, function, args, first run time as a timestamp).

        Through a paused scheduler of this process; an hour apart, each job has one run here.
        """
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone="UTC", jobstores={"default": self.spec.make()})
        scheduler.start(paused=True)
        try:
            for job_id, func, args, run_time in jobs:
                scheduler.add_job(
                    func, "interval", hours=1, id=job_id, args=args,
                    next_run_time=datetime.fromtimestamp(run_time, UTC),
                    # only the mechanism under test may keep a late run from starting
                    misfire_grace_time=3600,
                )  # fmt: skip
        finally:
            scheduler.shutdown(wait=False)

    def start_worker(
        self, *, threads: int = 4, stop_after_claim: bool = False, **store_options: Any
    ) -> Worker:
        options = {**self.spec.options, **store_options}
        seamed = StoreSpec(
            SEAMED_STORE,
            {
                "store": {"ref": self.spec.ref, "options": options},
                "stop_after_claim": stop_after_claim,
            },
        )
        worker = Worker(len(self.workers), seamed, ChaosConfig(threads=threads), self.workdir)
        worker.start()
        self.workers.append(worker)
        return worker

    def records(self, worker: Worker | None = None) -> list[Record]:
        """What the workers (or ``worker``) recorded so far, in the order of each file."""
        records = []
        for each in self.workers if worker is None else [worker]:
            path = self.workdir / f"worker{each.index}-1.record"
            try:
                records.extend(read(path))
            except (FileNotFoundError, ValueError):
                continue  # not started yet, or a line half written: the next look has it
        return records

    def output(self, worker: Worker) -> str:
        return worker.output.read_text(errors="replace")

    def wait_until(self, condition: Callable[[], T | None], what: str) -> T:
        """Poll ``condition`` until it gives a true value; fail after :data:`STEP_DEADLINE`."""
        deadline = time.monotonic() + STEP_DEADLINE
        while True:
            value = condition()
            if value:
                return value
            crashed = [worker.crashed() for worker in self.workers if worker.crashed()]
            if crashed or time.monotonic() > deadline:
                self.dump_stacks()
                pytest.fail(f"gave up waiting until {what}\n{self.describe()}")
            time.sleep(0.01)

    def wait_for_record(
        self,
        worker: Worker,
        kinds: tuple[str, ...],
        job_id: str,
        after: float = 0.0,
    ) -> Record:
        """Wait until ``worker`` records one of ``kinds`` for ``job_id`` after ``after``."""

        def found() -> Record | None:
            return next(
                (
                    record
                    for record in self.records(worker)
                    if record.kind in kinds
                    and record.job_id == job_id
                    and record.wall_time > after
                ),
                None,
            )

        return self.wait_until(found, f"worker {worker.index} recorded {kinds} for {job_id}")

    def wait_for_renewal(self, worker: Worker, after: float) -> Record:
        """Wait until ``worker`` has renewed its runs in progress after ``after``."""

        def found() -> Record | None:
            renewals = [r for r in self.records(worker) if r.kind == "renewed"]
            return next((r for r in renewals if r.wall_time > after), None)

        return self.wait_until(found, f"worker {worker.index} renewed its runs")

    def dump_stacks(self) -> None:
        """
        Have every running worker write its threads' stacks to its output, for the failure
        message (a stopped worker writes them only once resumed: it is not waited for).
        """
        asked = []
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                asked.append((worker, len(self.output(worker))))
                worker.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 2.0
        for worker, size in asked:
            while time.monotonic() < deadline and not is_stopped(pid_of(worker)):
                if "Current thread" in self.output(worker)[size:]:
                    break
                time.sleep(0.01)

    def pause(self, worker: Worker) -> None:
        assert worker.process is not None
        worker.process.send_signal(signal.SIGSTOP)
        self.wait_until(lambda: is_stopped(pid_of(worker)), f"worker {worker.index} stopped")

    def resume(self, worker: Worker) -> float:
        """Send SIGCONT; return when, by the wall clock the records use."""
        assert worker.process is not None
        resumed_at = time.time()
        worker.process.send_signal(signal.SIGCONT)
        return resumed_at

    def stop(self) -> None:
        """Resume whatever is stopped, then shut every worker down (they wait for their jobs)."""
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                # only if stopped, and SIGTERM only once running: a SIGTERM right behind a
                # SIGCONT can reach a thread other than the main one, which then never sees it
                pid = pid_of(worker)
                if is_stopped(pid):
                    worker.process.send_signal(signal.SIGCONT)
                    self.wait_until(partial(is_running, pid), f"{pid} resumed")
            worker.ask_to_stop()
        deadline = time.monotonic() + STEP_DEADLINE
        for worker in self.workers:
            assert worker.process is not None
            try:
                worker.process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                self.dump_stacks()  # shows in the failure message: the exit code is checked
                worker.process.kill()
                worker.process.wait()

    def assert_clean_exits(self) -> None:
        for worker in self.workers:
            assert worker.process is not None
            assert worker.process.returncode == 0, self.describe()
            output = self.output(worker)
            assert "Traceback" not in output, self.describe()

    def describe(self) -> str:
        """Every worker's records and output, for a failure message."""
        parts = []
        for worker in self.workers:
            records = "\n".join(
                f"  {r.kind} {r.job_id} {r.run_time} {r.wall_time:.3f}"
                for r in self.records(worker)
            )
            parts.append(
                f"--- worker {worker.index} (pid {pid_of(worker)}) records:\n{records}\n"
                f"--- worker {worker.index} output:\n{self.output(worker)[-3000:]}"
            )
        return "\n".join(parts)


def runs_by_fire_time(records: list[Record]) -> dict[tuple[str, float | None], list[int]]:
    """The pids that ran each (job id, fire time)."""
    runs: dict[tuple[str, float | None], list[int]] = {}
    for record in records:
        if record.kind == "run":
            runs.setdefault((record.job_id, record.run_time), []).append(record.pid)
    return runs


@pytest.fixture
def scenario(store_spec: StoreSpec, tmp_path: Path) -> Iterator[Scenario]:
    scenario = Scenario(store_spec, tmp_path / "workers")
    yield scenario
    scenario.stop()  # also after a failure: no stopped process is left behind


def test_a_process_paused_between_claim_and_start_leaves_the_run_to_its_new_owner(
    scenario: Scenario,
) -> None:
    """
    The paused process stops itself right after its claim; once the claim has run out, the
    other process claims and runs the job; resumed, the paused process's start is lost.
    """
    fire_time = float(int(time.time()) - 1)
    scenario.put_jobs(("job", "tests.multiprocess.jobs:tick", ["job"], fire_time))

    paused = scenario.start_worker(stop_after_claim=True)
    scenario.wait_for_record(paused, ("claimed",), "job")
    scenario.wait_until(lambda: is_stopped(pid_of(paused)), "the first process stopped itself")
    other = scenario.start_worker()
    took_over = scenario.wait_for_record(other, ("run",), "job")
    scenario.resume(paused)
    outcome = scenario.wait_for_record(paused, OUTCOMES, "job")
    scenario.stop()

    assert took_over.run_time == fire_time
    assert outcome.kind == "lost", scenario.describe()
    records = scenario.records()
    assert runs_by_fire_time(records) == {("job", fire_time): [pid_of(other)]}
    # the run was in progress nowhere else: nobody reports it missed
    assert not [r for r in records if r.kind == "missed"], scenario.describe()
    scenario.assert_clean_exits()


@pytest.mark.parametrize(
    "release",
    [
        # the queued run's check races the lease thread's first renewal after the pause
        pytest.param("before_resume", id="released-before-resume"),
        # the lease thread has already learned that the run was taken over
        pytest.param("after_renewal", id="released-after-renewal"),
    ],
)
def test_a_run_queued_in_a_paused_process_does_not_start_once_taken_over(
    scenario: Scenario, tmp_path: Path, release: str
) -> None:
    """
    A one-thread pool is busy with a job that waits for a file, so the second run sits queued,
    started in the store; the process is paused until the other one reports both runs missed.
    Resumed and released, it finishes the job that was running, but never starts the queued
    one, and says so.
    """
    gate = tmp_path / "gate"
    blocker_time = float(int(time.time()) - 2)
    victim_time = blocker_time + 1
    scenario.put_jobs(
        ("blocker", "tests.multiprocess.jobs:hold", ["blocker", str(gate)], blocker_time),
        ("victim", "tests.multiprocess.jobs:tick", ["victim"], victim_time),
    )

    # no polling: once its runs are started, the process calls the store only to renew them,
    # so a stop right after a renewal never catches it inside a store call (one stopped in a
    # SQLite write would hold every other process up: a different story)
    paused = scenario.start_worker(threads=1, poll_interval=3600.0)
    scenario.wait_for_record(paused, ("run",), "blocker")
    started = scenario.wait_for_record(paused, OUTCOMES, "victim")
    assert started.kind == "started", scenario.describe()
    # right after a renewal: the next one is a third of a lease away
    scenario.wait_for_renewal(paused, after=started.wall_time)
    scenario.pause(paused)
    # a scheduler looks for abandoned runs when it starts, then once per lease at most (on a
    # store with change notifications, once per NOTIFIED_POLL_INTERVAL): starting the other
    # process once the lease is over lets it take the runs over on its first pass
    last_renewal = [r for r in scenario.records(paused) if r.kind == "renewed"][-1]
    lease_over = last_renewal.wall_time + LEASE_TIME + 0.1
    scenario.wait_until(lambda: time.time() > lease_over, "the paused process's lease ran out")

    other = scenario.start_worker()
    scenario.wait_for_record(other, ("missed",), "blocker")
    scenario.wait_for_record(other, ("missed",), "victim")
    if release == "before_resume":
        gate.touch()
        scenario.resume(paused)
    else:
        resumed_at = scenario.resume(paused)
        scenario.wait_for_renewal(paused, after=resumed_at)
        gate.touch()
    scenario.wait_for_record(paused, ("end",), "blocker")
    scenario.stop()  # the paused process's pool works through its queue before it exits

    records = scenario.records()
    assert runs_by_fire_time(records) == {("blocker", blocker_time): [pid_of(paused)]}, (
        scenario.describe()
    )
    missed = sorted((r.job_id, r.run_time) for r in scenario.records(other) if r.kind == "missed")
    assert missed == [("blocker", blocker_time), ("victim", victim_time)]
    refusal = REFUSAL.format(datetime.fromtimestamp(victim_time, UTC))
    assert refusal in scenario.output(paused), scenario.describe()
    scenario.assert_clean_exits()
