"""The scheduler core shared by every flavour: configuration, plugins, lifecycle and processing."""

from __future__ import annotations

import math
import sys
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta as timedelta, tzinfo
from logging import Logger, getLogger
from threading import TIMEOUT_MAX as TIMEOUT_MAX, RLock
from typing import Any

from apscheduler import util
from apscheduler._lazy import lazy_names
from apscheduler.clock import _ModuleSystemClock
from apscheduler.events import (
    EVENT_ALL as EVENT_ALL,
    EVENT_ALL_JOBS_REMOVED as EVENT_ALL_JOBS_REMOVED,
    EVENT_EXECUTOR_ADDED as EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED as EVENT_EXECUTOR_REMOVED,
    EVENT_JOB_ADDED as EVENT_JOB_ADDED,
    EVENT_JOB_MAX_INSTANCES as EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MODIFIED as EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED as EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED as EVENT_JOB_SUBMITTED,
    EVENT_JOBSTORE_ADDED as EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED as EVENT_JOBSTORE_REMOVED,
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_START,
    EVENT_SCHEDULER_STARTED as EVENT_SCHEDULER_STARTED,
    JobEvent as JobEvent,
    JobSubmissionEvent as JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.executors.base import (
    BaseExecutor,
    MaxInstancesReachedError as MaxInstancesReachedError,
)
from apscheduler.job import Job as Job
from apscheduler.jobstores.base import (
    BaseJobStore,
    ConflictingIdError as ConflictingIdError,
    JobLookupError as JobLookupError,
)
from apscheduler.runs import (
    SCHEDULER_PAUSED,
    SCHEDULER_RESUMED,
    SCHEDULER_STARTED,
    SCHEDULER_STOPPED,
)
from apscheduler.schedulers import (
    STATE_PAUSED as STATE_PAUSED,
    STATE_RUNNING as STATE_RUNNING,
    STATE_STOPPED as STATE_STOPPED,
    SchedulerAlreadyRunningError,
    SchedulerNotRunningError,
)
from apscheduler.schedulers._components import ComponentsAPI
from apscheduler.schedulers._config import (
    build_plugin_instance,
    collect_options,
    parse_job_defaults,
    parse_run_history,
)
from apscheduler.schedulers._jobs_api import JobsAPI
from apscheduler.schedulers._plugins import EXECUTORS, JOBSTORES, TRIGGERS, EntryPoints
from apscheduler.schedulers._processing import ProcessingPass, seconds_until
from apscheduler.schedulers._registry import JobRegistry
from apscheduler.schedulers._retries import RetryKeeper
from apscheduler.schedulers._run_history import RunRecorder
from apscheduler.schedulers._run_leases import RunLeases
from apscheduler.schedulers._runs_api import RunsAPI
from apscheduler.schedulers._stuck_runs import DEFAULT_FACTOR as DEFAULT_STUCK_FACTOR
from apscheduler.schedulers.handle import deferring_events
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import (
    UTC,
    asbool as asbool,
    asint as asint,
    astimezone,
    maybe_ref,
    obj_to_ref as obj_to_ref,
    ref_to_obj as ref_to_obj,
    undefined as undefined,
)

# ``name as name`` above, and the two below: names this module had in APScheduler 3, which
# programs import from here (and test suites patch). The default executor and job store are
# imported on first use: the thread pool brings in concurrent.futures.
__getattr__ = lazy_names(
    __name__,
    {
        "MemoryJobStore": ("apscheduler.jobstores.memory", "MemoryJobStore"),
        "ThreadPoolExecutor": ("apscheduler.executors.pool", "ThreadPoolExecutor"),
    },
)

_THIS_MODULE = sys.modules[__name__]


class BaseScheduler(JobsAPI, RunsAPI, ComponentsAPI, metaclass=ABCMeta):
    """
    Abstract base class for all schedulers.

    Takes the following keyword arguments:

    :param str|logging.Logger logger: logger to use for the scheduler's logging (defaults to
        apscheduler.scheduler)
    :param str|datetime.tzinfo timezone: the default time zone (defaults to the local timezone)
    :param int|float jobstore_retry_interval: the minimum number of seconds to wait between
        retries in the scheduler's main loop if the job store raises an exception when getting
        the list of due jobs
    :param dict job_defaults: default values for newly added jobs
    :param dict jobstores: a dictionary of job store alias -> job store instance or configuration
        dict
    :param dict executors: a dictionary of executor alias -> executor instance or configuration
        dict
    :param clock: an object with ``now(tz)`` and ``monotonic()`` methods that the scheduler asks
        for the time (defaults to :class:`~apscheduler.clock.SystemClock`)
    :param str|dict metrics: measure the scheduler for ``"prometheus"`` or
        ``"opentelemetry"``, or a dict with ``backend`` and that backend's options (see
        :doc:`/metrics`)
    :param float stuck_run_factor: a run going on for this many times its job's usual duration
        is reported as probably stuck (see :ref:`run-control`; default 10, ``0`` for never)
    :param int|dict run_history: how much run history to keep (see :ref:`run-history`): the
        most runs kept per job, or a dict with ``max_runs`` and ``max_age`` (seconds or a
        :class:`~datetime.timedelta`, ``None`` for no limit); ``0`` or ``False`` keeps none
        (default: 100 runs per job, for up to 30 days)

    .. seealso:: :ref:`scheduler-config`

    .. versionadded:: 3.12.0 the ``clock``, ``metrics``, ``run_history`` and
        ``stuck_run_factor`` options
    """

    # As in APScheduler 3: alias -> entry point of the installed plugins (read on first use),
    # and alias -> class, consulted first and filled in as plugins are loaded; a class added
    # here is an alias without packaging (see _create_plugin_instance)
    _trigger_plugins: Mapping[str, Any] = EntryPoints(TRIGGERS)
    _executor_plugins: Mapping[str, Any] = EntryPoints(EXECUTORS)
    _jobstore_plugins: Mapping[str, Any] = EntryPoints(JOBSTORES)
    _trigger_classes: dict[str, type[BaseTrigger]] = {}
    _executor_classes: dict[str, type[BaseExecutor]] = {}
    _jobstore_classes: dict[str, type[BaseJobStore]] = {}

    def __init__(self, gconfig: Mapping[str, Any] | None = None, **options: Any) -> None:
        super().__init__()
        self._executors: dict[str, BaseExecutor] = {}
        self._executors_lock = self._create_lock()
        # the job stores, their lock and the jobs added before start
        self._registry = JobRegistry(self, self._create_lock())
        self._listeners: list[tuple[Callable[[SchedulerEvent], Any], int]] = []
        self._listeners_lock = self._create_lock()
        # the POSIX time the loop plans to wake up at (infinity: when woken; None: unknown)
        self._wakeup_deadline: float | None = None
        # names this scheduler in the leases it takes on jobs of shared stores
        self._instance_id = _new_instance_id()
        self._run_leases = RunLeases(self._instance_id, getLogger("apscheduler.scheduler"))
        # the run history: what became of each run (see get_job_runs())
        self._run_recorder = RunRecorder(self)
        # the retries of failed runs (the max_retries job options)
        self._retries = RetryKeeper(self)
        self.state = STATE_STOPPED
        self.configure(gconfig or {}, **options)

    def __getstate__(self) -> Any:
        raise TypeError(
            "Schedulers cannot be serialized. Ensure that you are not passing a scheduler "
            "instance as an argument to a job, or scheduling an instance method where the "
            "instance contains a scheduler as an attribute."
        )

    def configure(
        self,
        gconfig: Mapping[str, Any] | None = None,
        prefix: str = "apscheduler.",
        **options: Any,
    ) -> None:
        """
        Reconfigures the scheduler with the given options.

        Can only be done when the scheduler isn't running.

        :param dict gconfig: a "global" configuration dictionary whose values can be overridden by
            keyword arguments to this method
        :param str|unicode prefix: pick only those keys from ``gconfig`` that are prefixed with
            this string (pass an empty string or ``None`` to use all keys)
        :raises SchedulerAlreadyRunningError: if the scheduler is already running
        """
        if self.state != STATE_STOPPED:
            raise SchedulerAlreadyRunningError

        self._configure(collect_options(gconfig or {}, prefix, options))

    def _configure(self, config: dict[str, Any]) -> None:
        logger = config.pop("logger", None)
        if isinstance(logger, str):
            logger = maybe_ref(logger) if ":" in logger else getLogger(logger)
        self._logger: Logger = logger or getLogger("apscheduler.scheduler")

        # as in APScheduler 3: a configured zone is converted, the local zone is kept as it comes
        self.timezone: tzinfo = astimezone(config.pop("timezone", None)) or get_localzone()
        self.jobstore_retry_interval = float(config.pop("jobstore_retry_interval", 10))
        # without a clock, the scheduler's "now" is datetime.now() through this module's name,
        # which test suites patch (as in APScheduler 3)
        self._clock = maybe_ref(config.pop("clock", None)) or _ModuleSystemClock(_THIS_MODULE)

        self._job_defaults = parse_job_defaults(config.get("job_defaults") or {})
        self._run_recorder.policy = parse_run_history(config.pop("run_history", None))
        factor = config.pop("stuck_run_factor", DEFAULT_STUCK_FACTOR)
        self._run_recorder.stuck.factor = _non_negative(factor, "stuck_run_factor")
        self._attach_metrics(config.pop("metrics", None))

        self._executors.clear()
        for alias, value in (config.get("executors") or {}).items():
            executor = build_plugin_instance(self, "executor", alias, value)
            self.add_executor(executor, alias)

        self._jobstores.clear()
        for alias, value in (config.get("jobstores") or {}).items():
            jobstore = build_plugin_instance(self, "jobstore", alias, value)
            self.add_jobstore(jobstore, alias)

    def _attach_metrics(self, config: Any) -> None:
        """Measure this scheduler as the ``metrics`` option asks (instead of as before)."""
        previous = self.__dict__.pop("_metrics", None)
        if previous is not None:
            previous.detach()
        if config:
            from apscheduler.metrics import instrument

            self._metrics = instrument(self, config)

    def start(self, paused: bool = False) -> None:
        """
        Start the configured executors and job stores and begin processing scheduled jobs.

        :param bool paused: if ``True``, don't start job processing until :meth:`resume` is called
        :raises SchedulerAlreadyRunningError: if the scheduler is already running
        :raises RuntimeError: if running under uWSGI with threads disabled
        """
        if self.state != STATE_STOPPED:
            raise SchedulerAlreadyRunningError

        self._check_uwsgi()
        self._instance_id = _new_instance_id()
        self._run_leases = RunLeases(self._instance_id, self._logger)
        self._run_recorder.start()

        with self._executors_lock:
            if "default" not in self._executors:
                self.add_executor(self._create_default_executor(), "default")

            for alias, executor in self._executors.items():
                executor.start(self, alias)

        self._registry.start(self._create_default_jobstore)

        self.state = STATE_PAUSED if paused else STATE_RUNNING
        self._run_recorder.fact(SCHEDULER_STARTED, detail="paused" if paused else None)
        self._logger.info("Scheduler started")
        self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_START))

        if not paused:
            self.wakeup()

    @abstractmethod
    def shutdown(self, wait: bool = True) -> None:
        """
        Shuts down the scheduler, along with its executors and job stores.

        Does not interrupt any currently running jobs.

        :param bool wait: ``True`` to wait until all currently executing jobs have finished
        :raises SchedulerNotRunningError: if the scheduler has not been started yet
        """
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError

        self.state = STATE_STOPPED

        with self._executors_lock, self._jobstores_lock:
            for executor in self._executors.values():
                executor.shutdown(wait)
            # the runs that ended are finished in the shared stores before those close
            still_running = self._run_leases.stop()
            if still_running:
                self._logger.warning(
                    "Shut down while %d job runs from shared job stores were still going on: "
                    "they are no longer kept alive there, so schedulers sharing those stores "
                    "will report them missed once their lease runs out",
                    still_running,
                )
            # and the run history is written while the stores are still open
            self._run_recorder.fact(SCHEDULER_STOPPED)
            self._run_recorder.stop()
            for jobstore in self._jobstores.values():
                jobstore.shutdown()

        self._logger.info("Scheduler has been shut down")
        self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_SHUTDOWN))

    def pause(self) -> None:
        """
        Pause job processing in the scheduler.

        This will prevent the scheduler from waking up to do job processing until :meth:`resume`
        is called. It will not however stop any already running job processing.
        """
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError
        if self.state == STATE_RUNNING:
            self.state = STATE_PAUSED
            self._run_recorder.fact(SCHEDULER_PAUSED)
            self._logger.info("Paused scheduler job processing")
            self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_PAUSED))

    def resume(self) -> None:
        """Resume job processing in the scheduler."""
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError
        if self.state == STATE_PAUSED:
            self.state = STATE_RUNNING
            self._run_recorder.fact(SCHEDULER_RESUMED)
            self._logger.info("Resumed scheduler job processing")
            self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_RESUMED))
            self.wakeup()

    @property
    def running(self) -> bool:
        """
        Return ``True`` if the scheduler has been started.

        This is a shortcut for ``scheduler.state != STATE_STOPPED``.
        """
        return self.state != STATE_STOPPED

    @abstractmethod
    def wakeup(self) -> None:
        """
        Notifies the scheduler that there may be jobs due for execution.

        Triggers :meth:`_process_jobs` to be run in an implementation specific manner.
        """

    def _create_default_executor(self) -> BaseExecutor:
        """Creates a default executor store, specific to the particular scheduler type."""
        from apscheduler.executors.pool import ThreadPoolExecutor

        return ThreadPoolExecutor()

    def _create_default_jobstore(self) -> BaseJobStore:
        """Creates a default job store, specific to the particular scheduler type."""
        from apscheduler.jobstores.memory import MemoryJobStore

        return MemoryJobStore()

    def _create_lock(self) -> Any:
        """Creates a reentrant lock object."""
        return RLock()

    def _check_uwsgi(self) -> None:
        """Check if we're running under uWSGI with threads disabled."""
        uwsgi_module = sys.modules.get("uwsgi")
        if not getattr(uwsgi_module, "has_threads", True):
            raise RuntimeError(
                "The scheduler seems to be running under uWSGI, but threads have "
                "been disabled. You must run uWSGI with the --enable-threads "
                "option for the scheduler to work."
            )

    def _wakeup_for(self, next_run_time: datetime | None) -> None:
        """
        Wake the scheduler only if a job now runs before the time it already plans to wake up.

        Adding many jobs to a running scheduler then costs no processing pass per job.
        """
        if self.state != STATE_RUNNING or next_run_time is None:
            return

        # a float: None wakes for every job, infinity is a sleep until woken
        deadline = self._wakeup_deadline
        if deadline is None or next_run_time.timestamp() < deadline:
            self.wakeup()

    def _process_jobs(self) -> float | None:
        """
        Iterates through jobs in every jobstore, starts jobs that are due and figures out how long
        to wait for the next round.

        If the ``get_due_jobs()`` call raises an exception, a new wakeup is scheduled in at least
        ``jobstore_retry_interval`` seconds.

        :return: seconds to sleep, or ``None`` to sleep until woken up
        :raises Exception: any other error, as in APScheduler 3 (the schedulers' own loops log
            it and try again after ``jobstore_retry_interval`` seconds)
        """
        if self.state == STATE_PAUSED:
            self._logger.debug("Scheduler is paused -- not processing jobs")
            return None
        if self.state == STATE_STOPPED:
            # a loop woken by shutdown() must not touch executors and stores it shut down
            return None

        return self._process_jobs_once()

    def _process_jobs_once(self) -> float | None:
        # Until this pass knows its next wakeup time, every added job must wake the scheduler
        self._wakeup_deadline = None
        self._logger.debug("Looking for jobs to run")
        processing = ProcessingPass(self, self._clock.now(UTC))
        registry = self._registry  # what _jobstores and _jobstores_lock read, looked up once
        # events that stores dispatch meanwhile (a job that fails to load) wait for the lock
        with registry.lock, deferring_events(processing.events):
            for jobstore_alias, jobstore in registry.stores.items():
                processing.process_store(jobstore_alias, jobstore)
            processing.process_retries()

        for event in processing.events:
            self._dispatch_event(event)

        if self.state == STATE_PAUSED:
            self._logger.debug("Scheduler is paused; waiting until resume() is called")
            return None

        next_wakeup_time = processing.next_wakeup_time
        if next_wakeup_time is None:
            self._wakeup_deadline = math.inf
            self._logger.debug("No jobs; waiting until a job is added")
            return None

        self._wakeup_deadline = next_wakeup_time.timestamp()
        wait_seconds = seconds_until(next_wakeup_time, self._clock.now(UTC))
        self._logger.debug(
            "Next wakeup is due at %s (in %f seconds)", next_wakeup_time, wait_seconds
        )
        return wait_seconds


def _non_negative(value: Any, name: str) -> float:
    """A number option that may be ``0`` (off), given as a number or as text."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise util._with_note(ValueError(f"{name} must be a number"), f"got {value!r}") from None
    if number < 0:
        raise util._with_note(ValueError(f"{name} must not be negative"), f"got {value!r}")
    return number


def _new_instance_id() -> str:
    """A name for one run of one scheduler: host, process and a random part (pids get reused)."""
    import os
    import socket
    from uuid import uuid4

    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:12]}"


def get_localzone() -> tzinfo:
    """
    Return the zone of this machine, the default zone of a scheduler configured without one.

    Looked up as this module's global on every use, so that test suites can patch it here, as
    in APScheduler 3; it asks :func:`apscheduler.util.get_localzone`.
    """
    return util.get_localzone()


__all__ = ("BaseScheduler", "STATE_STOPPED", "STATE_RUNNING", "STATE_PAUSED")
