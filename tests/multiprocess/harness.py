"""
Chaos runs: several real scheduler processes share one job store while some get SIGKILLed.

The harness works with any shared store. A store is described by a :class:`StoreSpec`: the
``module:Class`` reference of the store and its constructor options, all of them JSON values
(the worker processes get them on their command line)::

    from tests.multiprocess.harness import ChaosConfig, StoreSpec, run_chaos

    spec = StoreSpec("apscheduler.jobstores.redis:RedisJobStore", {"host": ..., "port": ...})
    report = run_chaos(spec, ChaosConfig(), tmp_path)
    report.assert_sound()  # no duplicate run, nothing lost, failover within the lease

:func:`run_chaos` then:

1. puts ``config.jobs`` interval jobs (every ``config.interval`` seconds, ``coalesce=False``,
   ``misfire_grace_time=config.misfire_grace_time``) in the store, through a paused scheduler
   in this process, with their first fire time a few seconds ahead (``config.start_margin``);
2. starts ``config.processes`` workers (``python -m tests.multiprocess.worker``), each a
   BackgroundScheduler on its own instance of the store, with ``lease_time=config.lease_time``
   added to the options; ``config.clock_offsets`` gives some of them a clock that is off
   (seconds, by worker index), ``config.start_delays`` starts some later and
   ``config.die_on_claim`` makes some kill themselves with SIGKILL as soon as they hold claims;
3. every ``config.kill_every`` seconds (plus up to 0.04 s, to land among the runs that start
   just after a fire time) kills a random worker with SIGKILL and starts a new one in its
   place, until ``config.duration`` seconds after the first fire time;
4. stops the workers with SIGTERM and reads their records (see :mod:`tests.multiprocess.jobs`)
   into a :class:`ChaosReport`.

:meth:`ChaosReport.assert_sound` checks that no (job id, scheduled run time) ran twice, that
every fire time of the observed window (leaving out the first interval and the last
``lease_time + tail_margin`` seconds, where a run may still be waiting for a dead worker's lease)
ran or was reported missed (a run that a killed worker had submitted is reported missed by
another once its lease ends), and that no run started later after its fire time than the lease plus ``failover_margin``.
Its pieces (:meth:`~ChaosReport.assert_no_duplicates` and so on) can be used alone.

``ChaosConfig.from_environment()`` gives the CI-sized run, or the full one (100 jobs for 30 s,
a kill every 5 s) when ``APSCHEDULER_CHAOS=full``.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc


@dataclass(frozen=True)
class StoreSpec:
    """How a worker makes its store: ``ref`` (``module:Class``) called with ``options``."""

    ref: str
    options: dict[str, Any]

    def with_options(self, **options: Any) -> StoreSpec:
        return StoreSpec(self.ref, {**self.options, **options})

    def make(self) -> Any:
        from apscheduler.util import ref_to_obj

        return ref_to_obj(self.ref)(**self.options)


@dataclass
class ChaosConfig:
    processes: int = 4
    jobs: int = 20
    interval: float = 1.0
    #: seconds from the first fire time to the end of the run
    duration: float = 12.0
    #: seconds between two kills (0: no kills)
    kill_every: float = 3.0
    lease_time: float = 2.0
    misfire_grace_time: int = 10
    #: seconds between the start of the run and the first fire time, for the workers to start
    start_margin: float = 3.0
    threads: int = 10
    clock_offsets: dict[int, float] = field(default_factory=dict)
    start_delays: dict[int, float] = field(default_factory=dict)
    #: workers that SIGKILL themselves right after their first claim (then start again)
    die_on_claim: tuple[int, ...] = ()
    #: how much later than its lease a failed-over run may start
    failover_margin: float = 1.5
    #: seconds besides the lease at the end of the run that the completeness check leaves out
    tail_margin: float = 2.0
    #: seconds each run of a job takes
    job_seconds: float = 0.0
    max_instances: int = 1
    seed: int | None = None

    @classmethod
    def from_environment(cls, **overrides: Any) -> ChaosConfig:
        """The CI-sized run, or the full one when ``APSCHEDULER_CHAOS=full``."""
        if os.environ.get("APSCHEDULER_CHAOS") == "full":
            overrides = {"jobs": 100, "duration": 30.0, "kill_every": 5.0, **overrides}
        return cls(**overrides)


@dataclass(frozen=True)
class Record:
    kind: str
    job_id: str
    run_time: float | None
    pid: int
    wall_time: float


@dataclass
class ChaosReport:
    config: ChaosConfig
    first_fire_time: float
    end_time: float
    records: list[Record]
    #: (wall time, pid) of each SIGKILL
    kills: list[tuple[float, int]]
    #: process output of workers that exited by themselves, with their exit codes
    crashes: list[str]

    # --- what happened ---------------------------------------------------------------------

    def of_kind(self, kind: str) -> list[Record]:
        return [record for record in self.records if record.kind == kind]

    @property
    def duplicates(self) -> dict[tuple[str, float | None], list[int]]:
        """Runs that happened more than once, with the pids that ran them."""
        pids = defaultdict(list)
        for record in self.of_kind("run"):
            pids[(record.job_id, record.run_time)].append(record.pid)
        return {key: found for key, found in pids.items() if len(found) > 1}

    @property
    def window(self) -> tuple[float, float]:
        """The fire times checked for completeness: after the first, before the tail."""
        start = self.first_fire_time + self.config.interval
        end = self.end_time - self.config.lease_time - self.config.tail_margin
        return start, end

    def expected(self) -> set[tuple[str, float]]:
        start, end = self.window
        steps = range(math.ceil((start - self.first_fire_time) / self.config.interval),
                      math.floor((end - self.first_fire_time) / self.config.interval) + 1)  # fmt: skip
        times = [self.first_fire_time + step * self.config.interval for step in steps]
        return {(job_id, run_time) for job_id in job_ids(self.config) for run_time in times}

    def unaccounted(self) -> list[tuple[str, float]]:
        """Fire times of the window that nobody ran or reported missed (or skipped)."""
        accounted = {(r.job_id, r.run_time) for r in self.records if r.kind in ACCOUNTED}
        return sorted(key for key in self.expected() if key not in accounted)

    def overlapping_runs(self) -> list[tuple[Record, Record]]:
        """Pairs of runs of one job whose spans (from "run" to "end") overlap in time."""
        ends = {(r.job_id, r.run_time, r.pid): r.wall_time for r in self.of_kind("end")}
        runs: defaultdict[str, list[Record]] = defaultdict(list)
        for record in self.of_kind("run"):
            runs[record.job_id].append(record)
        overlaps = []
        for job_runs in runs.values():
            job_runs.sort(key=lambda record: record.wall_time)
            for earlier, later in pairwise(job_runs):
                end = ends.get((earlier.job_id, earlier.run_time, earlier.pid), math.inf)
                if later.wall_time < end:
                    overlaps.append((earlier, later))
        return overlaps

    def lags(self) -> list[float]:
        """Seconds from fire time to run, for each run of the window."""
        start, end = self.window
        return [
            r.wall_time - r.run_time
            for r in self.of_kind("run")
            if r.run_time is not None and start <= r.run_time <= end
        ]

    def summary(self) -> str:
        lags = sorted(self.lags())
        max_lag = f"{lags[-1]:.2f}" if lags else "-"
        p50 = f"{lags[len(lags) // 2]:.3f}" if lags else "-"
        return (
            f"{len(self.of_kind('run'))} runs by {len({r.pid for r in self.of_kind('run')})} "
            f"processes, {len(self.kills)} kills, {len(self.of_kind('missed'))} missed, "
            f"{len(self.of_kind('skipped'))} skipped, {len(self.expected())} fire times checked; "
            f"lag p50 {p50} s, max {max_lag} s"
        )

    # --- what must hold --------------------------------------------------------------------

    def assert_no_crashes(self) -> None:
        assert not self.crashes, "workers died by themselves:\n" + "\n".join(self.crashes)

    def assert_no_duplicates(self) -> None:
        duplicates = self.duplicates
        assert not duplicates, f"runs started twice (job, time: pids): {duplicates}"

    def assert_complete(self) -> None:
        lost = self.unaccounted()
        assert self.expected(), "the run was too short to check anything"
        assert not lost, (
            f"{len(lost)} fire times neither ran nor were reported missed, e.g. "
            f"{[(job, iso(run_time)) for job, run_time in lost[:5]]}; kills at "
            f"{[(iso(when), pid) for when, pid in self.kills]}; {self.summary()}"
        )

    def assert_failover_within_lease(self) -> None:
        limit = self.config.lease_time + self.config.failover_margin
        late = sorted(lag for lag in self.lags() if lag > limit)
        assert not late, (
            f"{len(late)} runs more than {limit} s late: {late[-5:]}; {self.summary()}"
        )

    def assert_sound(self) -> None:
        self.assert_no_crashes()
        self.assert_no_duplicates()
        self.assert_complete()
        self.assert_failover_within_lease()


ACCOUNTED = ("run", "missed", "skipped")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S.%f")[:-3]


def job_ids(config: ChaosConfig) -> list[str]:
    return [f"chaos-{index:03}" for index in range(config.jobs)]


def add_jobs(spec: StoreSpec, config: ChaosConfig, first_fire_time: float) -> None:
    """Put the jobs of the run in the store, through a paused scheduler of this process."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC", jobstores={"default": spec.make()})
    scheduler.start(paused=True)
    try:
        scheduler.remove_all_jobs()
        start = datetime.fromtimestamp(first_fire_time, UTC)
        for job_id in job_ids(config):
            scheduler.add_job(
                "tests.multiprocess.jobs:tick",
                "interval",
                seconds=config.interval,
                start_date=start,
                id=job_id,
                args=[job_id, config.job_seconds],
                coalesce=False,
                misfire_grace_time=config.misfire_grace_time,
                max_instances=config.max_instances,
            )
    finally:
        scheduler.shutdown(wait=False)


class Worker:
    """One worker process, started again under the same index after each kill."""

    def __init__(self, index: int, spec: StoreSpec, config: ChaosConfig, workdir: Path) -> None:
        self.index = index
        self.spec = spec
        self.config = config
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.generation = 0

    def start(self) -> None:
        self.generation += 1
        name = f"worker{self.index}-{self.generation}"
        command = [
            sys.executable, "-m", "tests.multiprocess.worker",
            "--store", json.dumps({"ref": self.spec.ref, "options": self.spec.options}),
            "--record", str(self.workdir / f"{name}.record"),
            "--clock-offset", str(self.config.clock_offsets.get(self.index, 0.0)),
            "--threads", str(self.config.threads),
        ]  # fmt: skip
        if self.generation == 1 and self.index in self.config.die_on_claim:
            command.append("--die-on-claim")
        self.output = self.workdir / f"{name}.out"
        with open(self.output, "wb") as output:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            )  # fmt: skip

    def died_on_claim(self) -> int | None:
        """The pid of the process if it killed itself on its first claim, as it was told to."""
        if self.process is None or self.process.poll() != -signal.SIGKILL:
            return None
        if self.generation == 1 and self.index in self.config.die_on_claim:
            return self.process.pid
        return None

    def crashed(self) -> str | None:
        """The exit code and output if the process ended by itself."""
        if self.process is None or self.process.poll() is None:
            return None
        return (
            f"worker {self.index} exited with {self.process.returncode}:\n"
            + (self.output.read_text(errors="replace")[-3000:])
        )

    def kill(self) -> int:
        assert self.process is not None
        pid = self.process.pid
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return pid

    def ask_to_stop(self) -> None:
        """Send SIGTERM: the worker shuts its scheduler down, waiting for its running jobs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_chaos(spec: StoreSpec, config: ChaosConfig, workdir: Path) -> ChaosReport:
    """Run the scenario described in the module docstring and report what happened."""
    spec = spec.with_options(lease_time=config.lease_time)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(config.seed)
    first_fire_time = math.ceil(time.time() + config.start_margin)
    end_time = first_fire_time + config.duration
    add_jobs(spec, config, first_fire_time)

    workers = [Worker(index, spec, config, workdir) for index in range(config.processes)]
    kills: list[tuple[float, int]] = []
    crashes: list[str] = []
    started_at = time.time()
    pending = sorted(workers, key=lambda worker: config.start_delays.get(worker.index, 0.0))
    next_kill = first_fire_time + config.kill_every if config.kill_every else math.inf
    try:
        while time.time() < end_time:
            while pending and time.time() >= started_at + config.start_delays.get(
                pending[0].index, 0.0
            ):
                pending.pop(0).start()
            if time.time() >= next_kill:
                running = [worker for worker in workers if worker.process is not None]
                victim = rng.choice(running)
                kills.append((time.time(), victim.kill()))
                victim.start()
                # mostly inside the burst of starts that follows each fire time
                next_kill += config.kill_every - (next_kill % 1.0) + rng.uniform(0.0, 0.04)
            for worker in workers:
                suicide = worker.died_on_claim()
                if suicide:
                    kills.append((time.time(), suicide))
                    worker.start()
                crash = worker.crashed()
                if crash:
                    crashes.append(crash)
                    worker.start()
            time.sleep(0.02)
    finally:
        # all at once: a worker still scheduling while another winds down would start fire
        # times that the other's last runs, still going on, make it skip
        for worker in workers:
            worker.ask_to_stop()
        for worker in workers:
            worker.wait_stopped()

    records = [record for path in sorted(workdir.glob("*.record")) for record in read(path)]
    return ChaosReport(config, first_fire_time, end_time, records, kills, crashes)


def check_max_instances_across_processes(spec: StoreSpec, workdir: Path) -> ChaosReport:
    """
    Run jobs that take 2.5 s and fire every second on three processes, and check that each
    job runs one instance at a time (``max_instances=1``) whichever process has it: the fire
    times in between are skipped, none is lost.
    """
    config = ChaosConfig(processes=3, jobs=3, duration=6.0, kill_every=0, job_seconds=2.5)
    report = run_chaos(spec, config, workdir)
    print(report.summary())
    report.assert_no_crashes()
    report.assert_no_duplicates()
    overlaps = report.overlapping_runs()
    assert not overlaps, f"runs of one job overlapped: {overlaps[:3]}"
    assert report.of_kind("skipped"), "no fire time came while a run was in progress"
    report.assert_complete()
    return report


def read(path: Path) -> list[Record]:
    records = []
    for line in path.read_text().splitlines():
        kind, job_id, run_time, pid, wall_time = line.split(" ")
        records.append(
            Record(
                kind,
                job_id,
                None if run_time == "-" else float(run_time),
                int(pid),
                float(wall_time),
            )
        )
    return records


__all__ = [
    "ChaosConfig",
    "ChaosReport",
    "Record",
    "StoreSpec",
    "check_max_instances_across_processes",
    "run_chaos",
]
