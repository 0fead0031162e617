"""The job: a callable, its arguments, its trigger and the options the scheduler runs it with."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timezone as timezone
from types import MethodType
from typing import TYPE_CHECKING, Any, cast

from apscheduler._callables import inspect_call
from apscheduler._lazy import lazy_names
from apscheduler._run_control import CONTROL_OPTIONS, DEFAULT_CONTROL, RunControl
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import (
    UTC as UTC,
    _with_note,
    check_callable_args as check_callable_args,
    convert_to_datetime,
    datetime_repr,
    get_callable_name as get_callable_name,
    obj_to_ref,
    ref_to_obj,
)

# ``name as name`` above: names this module had in APScheduler 3, which programs import from
# here (and test suites patch); this module does not use them itself. ``uuid4`` is another,
# which test suites patch for predictable job IDs: imported on first use (see _random_id()).
__getattr__ = lazy_names(__name__, {"uuid4": ("uuid", "uuid4")})
_GLOBALS = globals()

if TYPE_CHECKING:
    from apscheduler.explain import Explanation
    from apscheduler.runs import JobRun
    from apscheduler.schedulers.base import BaseScheduler

_STATE_VERSION = 1
# uuid4 bits: the version nibble says 4, the two top bits of the variant say RFC 4122
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


class Job:
    """
    Contains the options given when scheduling callables and its current schedule and other state.
    This class should never be instantiated by the user.

    :var str id: the unique identifier of this job
    :var str name: the description of this job
    :var func: the callable to execute
    :var tuple|list args: positional arguments to the callable
    :var dict kwargs: keyword arguments to the callable
    :var bool coalesce: whether to only run the job once when several run times are due
    :var trigger: the trigger object that controls the schedule of this job
    :var str executor: the name of the executor that will run this job
    :var int misfire_grace_time: the time (in seconds) how much this job's execution is allowed to
        be late (``None`` means "allow the job to run no matter how late it is")
    :var int max_instances: the maximum number of concurrently executing instances allowed for this
        job
    :var datetime.datetime next_run_time: the next scheduled run time of this job

    .. note::
        The ``misfire_grace_time`` has some non-obvious effects on job execution. See the
        :ref:`missed-job-executions` section in the documentation for an in-depth explanation.
    """

    __slots__ = (
        "_scheduler",
        "id",
        "trigger",
        "func",
        "args",
        "_kwargs",
        "next_run_time",
        "_options",
        "__weakref__",
    )

    # the slots, set by _modify() and __setstate__()
    _scheduler: BaseScheduler
    id: str
    trigger: BaseTrigger
    func: Callable[..., Any]
    args: tuple[Any, ...] | list[Any]
    _kwargs: dict[str, Any] | None
    next_run_time: datetime | None
    #: executor, misfire_grace_time, coalesce, max_instances, func_ref, name, the job store
    #: alias and the run options: one object shared by the jobs that have the same ones
    _options: _SharedOptions

    def __init__(self, scheduler: BaseScheduler, id: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self._scheduler = scheduler
        self._options = _NEW_JOB_OPTIONS
        self._modify(id=id or _random_id(), **kwargs)

    @classmethod
    def _new(
        cls,
        scheduler: BaseScheduler,
        id: str | None,
        func: Any,
        args: Any,
        kwargs: Any,
        name: str | None,
        misfire_grace_time: int | None,
        coalesce: bool,
        max_instances: int,
        trigger: BaseTrigger,
        executor: str,
        next_run_time: datetime | None,
    ) -> Job:
        """
        Make the job that ``Job(scheduler, id=id, func=func, ...)`` makes, with every option given.

        ``add_job()`` makes one job per call: this checks the options in the order, and with
        the errors, of :meth:`_modify`, without the keyword dictionaries it goes through.
        """
        job = cls.__new__(cls)
        job._scheduler = scheduler
        if not id:
            id = _random_id()
        elif not isinstance(id, str):
            raise _invalid("id must be a nonempty string", id)

        func, func_ref, args, kwargs, callable_name = _checked_call(func, args, kwargs)
        name = callable_name if name is None else _checked_name(name)
        misfire_grace_time = _checked_misfire_grace_time(misfire_grace_time)
        coalesce = bool(coalesce)
        max_instances = _checked_max_instances(max_instances)
        trigger = _checked_trigger(trigger)
        executor = _checked_executor(executor)
        if next_run_time is not None and (
            type(next_run_time) is not datetime or next_run_time.tzinfo is None
        ):
            next_run_time = convert_to_datetime(next_run_time, scheduler.timezone, "next_run_time")

        job.id = id
        job.func = func
        job.args = args
        job._kwargs = kwargs or None
        job.trigger = trigger
        job.next_run_time = next_run_time
        job._options = _shared_options(
            (executor, misfire_grace_time, coalesce, max_instances, func_ref, name, None, None)
        )
        return job

    # The options kept in the shared _options object. Each reads as a plain attribute that
    # may be unset (a pending job has no executor yet), and setting one shares another object.

    @property
    def executor(self) -> str:
        """The name of the executor that will run this job."""
        value: str = self._options.get(_EXECUTOR)
        return value

    @executor.setter
    def executor(self, value: str) -> None:
        self._change_options({_EXECUTOR: value})

    @property
    def misfire_grace_time(self) -> int | None:
        """Seconds a run may be late and still run (``None``: however late)."""
        value: int | None = self._options.get(_MISFIRE_GRACE_TIME)
        return value

    @misfire_grace_time.setter
    def misfire_grace_time(self, value: int | None) -> None:
        self._change_options({_MISFIRE_GRACE_TIME: value})

    @property
    def coalesce(self) -> bool:
        """Whether to run only once when several run times are due."""
        value: bool = self._options.get(_COALESCE)
        return value

    @coalesce.setter
    def coalesce(self, value: bool) -> None:
        self._change_options({_COALESCE: value})

    @property
    def max_instances(self) -> int:
        """The most runs of this job that may go on at once."""
        value: int = self._options.get(_MAX_INSTANCES)
        return value

    @max_instances.setter
    def max_instances(self, value: int) -> None:
        self._change_options({_MAX_INSTANCES: value})

    @property
    def func_ref(self) -> str | None:
        """The text reference to the callable (``None``: it has none)."""
        value: str | None = self._options.get(_FUNC_REF)
        return value

    @func_ref.setter
    def func_ref(self, value: str | None) -> None:
        self._change_options({_FUNC_REF: value})

    @property
    def name(self) -> str:
        """The description of this job."""
        value: str = self._options.get(_NAME)
        return value

    @name.setter
    def name(self, value: str) -> None:
        self._change_options({_NAME: value})

    @property
    def _jobstore_alias(self) -> str | None:
        value: str | None = self._options.get(_JOBSTORE_ALIAS)
        return value

    @_jobstore_alias.setter
    def _jobstore_alias(self, value: str | None) -> None:
        # set on every job stored: the options with each alias are remembered
        try:
            options = self._options
        except AttributeError:
            self._change_options({_JOBSTORE_ALIAS: value})
            return
        self._options = options.with_alias(value)

    @property
    def _control(self) -> RunControl | None:
        """The run options (timeout, retries, overlap); ``None``: all at their defaults."""
        value: RunControl | None = self._options.get(_CONTROL)
        return value

    @_control.setter
    def _control(self, value: RunControl | None) -> None:
        self._change_options({_CONTROL: value})

    def _change_options(self, changes: dict[int, Any]) -> None:
        """Share the options object that differs from this job's by ``changes``."""
        try:
            values = list(self._options.values)
        except AttributeError:  # a job made by __new__(), not yet given any option
            values = [_UNSET] * len(_OPTION_NAMES)
        for index, value in changes.items():
            values[index] = value
        self._options = _shared_options(tuple(values))

    @property
    def _run_control(self) -> RunControl:
        """The options that control this job's runs (see :ref:`run-control`)."""
        return self._control or DEFAULT_CONTROL

    @property
    def timeout(self) -> float | None:
        """
        Seconds a run may take before it is stopped and reported timed out (``None``: no limit).

        .. versionadded:: 3.12.0
        """
        control = self._control
        return None if control is None else control.timeout

    @property
    def max_retries(self) -> int:
        """
        How many times a failed run is tried again (``0``: never, as in APScheduler 3).

        .. versionadded:: 3.12.0
        """
        return self._run_control.max_retries

    @property
    def overlap(self) -> str:
        """
        What a run due while ``max_instances`` runs are going on does: ``"skip"``,
        ``"queue"`` or ``"cancel"``.

        .. versionadded:: 3.12.0
        """
        return self._run_control.overlap

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments to the callable."""
        # Most jobs have none. Their empty dict is made on first use rather than kept from the
        # start: with many stored jobs, one per job is a noticeable share of their memory.
        kwargs = self._kwargs
        if kwargs is None:
            kwargs = self._kwargs = {}

        return kwargs

    @kwargs.setter
    def kwargs(self, value: dict[str, Any]) -> None:
        self._kwargs = value

    def modify(self, **changes: Any) -> Job:
        """
        Makes the given changes to this job and saves it in the associated job store.

        Accepted keyword arguments are the same as the variables on this class.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.modify_job`

        :return: this job instance
        """
        self._scheduler.modify_job(self.id, self._jobstore_alias, **changes)
        return self

    def reschedule(self, trigger: str | BaseTrigger, **trigger_args: Any) -> Job:
        """
        Shortcut for switching the trigger on this job.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.reschedule_job`

        :return: this job instance
        """
        self._scheduler.reschedule_job(self.id, self._jobstore_alias, trigger, **trigger_args)
        return self

    def pause(self) -> Job:
        """
        Temporarily suspend the execution of this job.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.pause_job`

        :return: this job instance
        """
        self._scheduler.pause_job(self.id, self._jobstore_alias)
        return self

    def resume(self) -> Job:
        """
        Resume the schedule of this job if previously paused.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.resume_job`

        :return: this job instance
        """
        self._scheduler.resume_job(self.id, self._jobstore_alias)
        return self

    def remove(self) -> None:
        """
        Unschedules this job and removes it from its associated job store.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.remove_job`
        """
        self._scheduler.remove_job(self.id, self._jobstore_alias)

    def get_runs(
        self,
        state: str | Collection[str] | None = None,
        since: datetime | str | None = None,
        limit: int = 100,
    ) -> list[JobRun]:
        """
        Return the recorded runs of this job, newest scheduled run time first.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.get_job_runs`

        .. versionadded:: 3.12.0
        """
        return self._scheduler.get_job_runs(
            self.id, self._jobstore_alias, state=state, since=since, limit=limit
        )

    def run_now(self) -> JobRun:
        """
        Run this job once more, now; its schedule stays as it is.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.run_job_now`

        .. versionadded:: 3.12.0
        """
        return self._scheduler.run_job_now(self.id, self._jobstore_alias)

    def explain(self, at: datetime | str | None = None) -> Explanation:
        """
        Tell this job's state, schedule and last runs, and (given ``at``) why it ran then or not.

        .. seealso:: :meth:`~apscheduler.schedulers.base.BaseScheduler.explain`

        .. versionadded:: 3.12.0
        """
        return self._scheduler.explain(self.id, self._jobstore_alias, at=at)

    @property
    def pending(self) -> bool:
        """
        Returns ``True`` if the referenced job is still waiting to be added to its designated job
        store.
        """
        return self._jobstore_alias is None

    def _get_run_times(self, now: datetime) -> list[datetime]:
        """
        Computes the scheduled run times between ``next_run_time`` and ``now`` (inclusive).

        :return: the run times, oldest first
        """
        run_times = []
        next_run_time = self.next_run_time
        while next_run_time is not None and next_run_time <= now:
            run_times.append(next_run_time)
            next_run_time = self.trigger.get_next_fire_time(next_run_time, now)

        return run_times

    def _modify(self, **changes: Any) -> None:
        """
        Validates the changes to the Job and makes the modifications if and only if all of them
        validate.

        :raises AttributeError: for keys that are not job options
        :raises TypeError: for values of the wrong type
        :raises ValueError: for values out of range, or arguments the callable cannot take
        """
        approved: dict[str, Any] = {}

        # a new job given name=None takes the callable's name (the scheduler passes name=None
        # when the user gave none); on an existing job, None stays an invalid name
        if "name" in changes and changes["name"] is None and not hasattr(self, "name"):
            del changes["name"]

        if "id" in changes:
            value = changes.pop("id")
            if not isinstance(value, str):
                raise _invalid("id must be a nonempty string", value)
            if hasattr(self, "id"):
                raise ValueError("The job ID may not be changed")
            if not value:
                raise _invalid("id must be a nonempty string", value)
            approved["id"] = value

        if "func" in changes or "args" in changes or "kwargs" in changes:
            func = changes.pop("func") if "func" in changes else self.func
            args = changes.pop("args") if "args" in changes else self.args
            kwargs = changes.pop("kwargs") if "kwargs" in changes else self.kwargs
            approved.update(self._validate_call(func, args, kwargs))

        if "name" in changes:
            approved["name"] = _checked_name(changes.pop("name"))

        if "misfire_grace_time" in changes:
            approved["misfire_grace_time"] = _checked_misfire_grace_time(
                changes.pop("misfire_grace_time")
            )

        if "coalesce" in changes:
            approved["coalesce"] = bool(changes.pop("coalesce"))

        if "max_instances" in changes:
            approved["max_instances"] = _checked_max_instances(changes.pop("max_instances"))

        if "trigger" in changes:
            approved["trigger"] = _checked_trigger(changes.pop("trigger"))

        if "executor" in changes:
            approved["executor"] = _checked_executor(changes.pop("executor"))

        if "next_run_time" in changes:
            value = changes.pop("next_run_time")
            approved["next_run_time"] = convert_to_datetime(
                value, self._scheduler.timezone, "next_run_time"
            )

        control_changes = {name: changes.pop(name) for name in CONTROL_OPTIONS if name in changes}
        if control_changes:
            approved["_control"] = self._run_control.changed(control_changes)

        if changes:
            # checked last, as in APScheduler 3: an invalid value of a known option wins
            raise AttributeError(
                f"The following are not modifiable attributes of Job: {', '.join(changes)}"
            )

        shared = {}
        for key, value in approved.items():
            index = _OPTION_INDEX.get(key)
            if index is None:
                setattr(self, key, value)
            else:
                shared[index] = value
        if shared:
            self._change_options(shared)

    def _validate_call(self, func: Any, args: Any, kwargs: Any) -> dict[str, Any]:
        """Check the callable and its arguments together, since each constrains the other."""
        func, func_ref, args, kwargs, callable_name = _checked_call(func, args, kwargs)
        approved = {"func": func, "func_ref": func_ref, "args": args, "_kwargs": kwargs or None}
        if getattr(self, "name", None) is None:
            approved["name"] = callable_name

        return approved

    def __getstate__(self) -> dict[str, Any]:
        # Don't allow this Job to be serialized if the function reference could not be determined
        if not self.func_ref:
            raise ValueError(
                f"This Job cannot be serialized since the reference to its callable ({self.func!r}) "
                f"could not be determined. Consider giving a textual reference (module:function "
                f"name) instead."
            )

        args: tuple[Any, ...] | list[Any]
        if self._stores_instance_in_args():
            # a bound method, as _stores_instance_in_args() has just checked
            args = (cast(MethodType, self.func).__self__,) + tuple(self.args)
        else:
            args = self.args

        return {
            "version": _STATE_VERSION,
            "id": self.id,
            "func": self.func_ref,
            "trigger": self.trigger,
            "executor": self.executor,
            "args": args,
            "kwargs": self._kwargs if self._kwargs is not None else {},
            "name": self.name,
            "misfire_grace_time": self.misfire_grace_time,
            "coalesce": self.coalesce,
            "max_instances": self.max_instances,
            "next_run_time": self.next_run_time,
            # only when set: a job with the APScheduler 3 options has APScheduler 3's state
            **({} if self._control is None else {"run_control": _control_state(self._control)}),
        }

    def _stores_instance_in_args(self) -> bool:
        """
        Tell whether the state must carry the instance of a bound method as the first argument.

        A reference to the method's class (``module:Class.method``) resolves to the plain
        function, so the instance has to travel in ``args``. A reference that resolves to the
        bound method itself (``module:instance.method``, a module-level instance) needs no
        instance: storing one would pass it twice when the job runs.
        """
        func = self.func
        if not isinstance(func, MethodType) or isinstance(func.__self__, type):
            return False

        try:
            return obj_to_ref(func) == self.func_ref
        except ValueError:  # an instance of a nested class: its class has no reference
            return False

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a job being unpickled has no options yet: no exception raised and caught for that
        options = getattr(self, "_options", None)
        self._apply_state(state, None if options is None else options.get(_JOBSTORE_ALIAS))
        if not hasattr(self, "_scheduler"):
            self._scheduler = None  # type: ignore[assignment]

    @classmethod
    def _restored(
        cls, state: dict[str, Any], scheduler: BaseScheduler | None, jobstore_alias: str | None
    ) -> Job:
        """
        Rebuild a job of ``scheduler`` kept in the store ``jobstore_alias`` from the state of
        :meth:`__getstate__`: what a job store does for every job it reads.

        One step instead of ``__setstate__()`` and then the scheduler and the alias set one by
        one, which looked up the shared options twice (2,000 jobs listed: 3 ms less). A
        replaced ``Job.__setstate__`` is still called, as APScheduler 3's stores call it.
        """
        job = cls.__new__(cls)
        if cls.__setstate__ is _PLAIN_SETSTATE:
            job._apply_state(state, jobstore_alias)
        else:
            job.__setstate__(state)
            job._jobstore_alias = jobstore_alias
        job._scheduler = scheduler  # type: ignore[assignment]
        return job

    def _apply_state(self, state: dict[str, Any], jobstore_alias: str | None) -> None:
        """Take the settings of ``state`` (see :meth:`__setstate__`), in ``jobstore_alias``."""
        if state.get("version", 1) > _STATE_VERSION:
            raise ValueError(
                f"Job has version {state['version']}, but only version {_STATE_VERSION} "
                f"can be handled"
            )

        self.id = state["id"]
        func_ref = state["func"]
        self.func = ref_to_obj(func_ref)
        self.trigger = state["trigger"]
        self.args = state["args"]
        self._kwargs = state["kwargs"] or None
        self.next_run_time = state["next_run_time"]
        control = state.get("run_control")
        self._options = _shared_options(
            (
                state["executor"],
                state["misfire_grace_time"],
                state["coalesce"],
                state["max_instances"],
                func_ref,
                state["name"],
                jobstore_alias,
                None if control is None else DEFAULT_CONTROL.changed(control),
            )
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Job):
            return self.id == other.id

        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Job (id={self.id} name={self.name})>"

    def __str__(self) -> str:
        if hasattr(self, "next_run_time"):
            status = (
                "next run at: " + datetime_repr(self.next_run_time)
                if self.next_run_time
                else "paused"
            )
        else:
            status = "pending"

        return f"{self.name} (trigger: {self.trigger}, {status})"


# what Job._restored() compares Job.__setstate__ with, to find it replaced
_PLAIN_SETSTATE = Job.__setstate__

# The attributes that __slots__ named before most of them moved to the shared _options: code
# that copies jobs over ``type(job).__slots__`` reads them, not the slots the instances have.
Job.__slots__ = (  # type: ignore[assignment]
    "_scheduler",
    "_jobstore_alias",
    "id",
    "trigger",
    "executor",
    "func",
    "func_ref",
    "args",
    "_kwargs",
    "name",
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "next_run_time",
    "_control",
    "__weakref__",
)


class _Unset:
    """The value of an option a job has not been given yet (reading it raises AttributeError)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()

#: the options a _SharedOptions holds, in the order of its values
_OPTION_NAMES = (
    "executor",
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "func_ref",
    "name",
    "_jobstore_alias",
    "_control",
)
_OPTION_INDEX = {name: index for index, name in enumerate(_OPTION_NAMES)}
(
    _EXECUTOR,
    _MISFIRE_GRACE_TIME,
    _COALESCE,
    _MAX_INSTANCES,
    _FUNC_REF,
    _NAME,
    _JOBSTORE_ALIAS,
    _CONTROL,
) = range(len(_OPTION_NAMES))


class _SharedOptions:
    """
    Job options that most jobs have alike, in one object for all the jobs that have them.

    A program that adds thousands of jobs usually gives them all the same executor, misfire
    grace time, coalescing, instance limit, callable and store: held by each job, those would
    cost eight slots per job; shared, they cost one. Never changed: a job given another option
    takes another object.
    """

    __slots__ = ("values", "_with_aliases")

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values
        #: job store alias -> these options with that alias
        self._with_aliases: dict[str | None, _SharedOptions] | None = None

    def with_alias(self, alias: str | None) -> _SharedOptions:
        """These options in the job store ``alias``."""
        known = self._with_aliases
        if known is None:
            known = self._with_aliases = {}
        elif type(alias) is str or alias is None:
            options = known.get(alias)
            if options is not None:
                return options

        values = list(self.values)
        values[_JOBSTORE_ALIAS] = alias
        options = _shared_options(tuple(values))
        if (type(alias) is str or alias is None) and len(known) < _ALIASES_KEPT:
            known[alias] = options
        return options

    def get(self, index: int) -> Any:
        value = self.values[index]
        if value is _UNSET:
            raise AttributeError(_OPTION_NAMES[index])
        return value


# option values (and their types: ``1`` must not find the options of ``True``) -> options
_shared: dict[tuple[Any, ...], _SharedOptions] = {}
# beyond this many different option sets (say, one name per job), sharing starts afresh
_SHARED_LIMIT = 4096
# the aliases each options object remembers (a program has a few job stores)
_ALIASES_KEPT = 8


def _shared_options(values: tuple[Any, ...]) -> _SharedOptions:
    """The options object holding ``values``, shared with the jobs that have the same ones."""
    key = values + tuple(map(type, values))
    try:
        options = _shared.get(key)
    except TypeError:  # an unhashable value (from a pickled state): not shared
        return _SharedOptions(values)
    if options is None:
        if len(_shared) >= _SHARED_LIMIT:
            _shared.clear()
        options = _shared[key] = _SharedOptions(values)
    return options


#: what a new job starts from: no store, the default run options, nothing else given yet
_NEW_JOB_OPTIONS = _SharedOptions((*(_UNSET,) * 6, None, None))


def _checked_call(
    func: Any, args: Any, kwargs: Any
) -> tuple[Callable[..., Any], str | None, tuple[Any, ...] | list[Any], dict[str, Any], str]:
    """
    Check the callable and its arguments together, since each constrains the other.

    :return: the callable, its text reference (``None``: it has none), the arguments, the
        keyword arguments (a dict of their own) and the callable's display name
    """
    given_ref = None
    if isinstance(func, str):
        given_ref = func
        func = ref_to_obj(func)
    elif not callable(func):
        raise _invalid("func must be a callable or a textual reference to one", func)

    # exact types first: the abstract-class checks are slow, and this runs for every job
    if type(args) is not tuple and (isinstance(args, str) or not isinstance(args, Iterable)):
        raise _invalid("args must be a non-string iterable", args)
    if type(kwargs) is not dict and (isinstance(kwargs, str) or not isinstance(kwargs, Mapping)):
        raise _invalid("kwargs must be a dict-like object", kwargs)

    # a list stays the list it was, as in APScheduler 3 (add_job() makes a tuple of its
    # own); other iterables, which may be one-shot, are read once into a tuple
    if type(args) is not tuple and type(args) is not list:
        args = tuple(args)
    kwargs = dict(kwargs)
    # lambdas, partials and nested functions have no reference (None): they run fine in
    # memory; persistent stores refuse them when the job is serialized
    func_ref, callable_name = inspect_call(func, args, kwargs)
    if given_ref is not None:
        func_ref = given_ref
    elif func_ref is not None:
        func_ref = sys.intern(func_ref)

    return func, func_ref, args, kwargs, callable_name


def _checked_name(value: Any) -> str:
    if not value or not isinstance(value, str):
        raise _invalid("name must be a nonempty string", value)
    return value


def _checked_misfire_grace_time(value: Any) -> int | None:
    if value is not None and (
        type(value) is not int
        and (not isinstance(value, int) or isinstance(value, bool))
        or value <= 0
    ):
        raise _invalid("misfire_grace_time must be either None or a positive integer", value)
    checked: int | None = value
    return checked


def _checked_max_instances(value: Any) -> int:
    if (
        type(value) is not int and (not isinstance(value, int) or isinstance(value, bool))
    ) or value <= 0:
        raise _invalid("max_instances must be a positive integer", value)
    checked: int = value
    return checked


def _checked_trigger(trigger: Any) -> BaseTrigger:
    if not isinstance(trigger, BaseTrigger):
        raise TypeError(f"Expected a trigger instance, got {trigger.__class__.__name__} instead")
    return trigger


def _checked_executor(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("executor must be a string", value)
    # interned: every job of an executor then refers to one string
    return sys.intern(value) if type(value) is str else value


def _control_state(control: RunControl) -> dict[str, Any]:
    """The run options that differ from the defaults, as plain values (classes as references)."""
    state: dict[str, Any] = {}
    for name in CONTROL_OPTIONS:
        value = getattr(control, name)
        if value != getattr(DEFAULT_CONTROL, name):
            state[name] = [obj_to_ref(cls) for cls in value] if name == "retry_on" else value
    return state


def _invalid(message: str, value: Any) -> TypeError:
    """The TypeError of an invalid job option: APScheduler 3's message, the value in a note."""
    return _with_note(TypeError(message), f"got {value!r}")


def _random_id() -> str:
    """
    Return what ``uuid4().hex`` would.

    Test suites replace this module's ``uuid4`` for predictable job IDs, as in APScheduler 3;
    until one does, no UUID object is built on the way, and the random bytes are read from the
    system in batches (one read per job would be most of the cost of making an ID).
    """
    # set once something asked for this module's uuid4 (patching it does)
    given = _GLOBALS.get("uuid4")
    if given is not None and given is not sys.modules["uuid"].uuid4:
        return cast(str, given().hex)

    return random_uuid_hex()


def random_uuid_hex() -> str:
    """
    Return a random ``uuid4().hex``, from random bytes read from the system in batches.

    Thread safe. Besides job IDs, shared stores' run ids come from here: a read per id was
    most of an id's cost, and releasing the GIL for it, in a scheduler thread whose pool is
    busy, made it wait for the GIL again.
    """
    try:
        return _spare_ids.pop()
    except IndexError:
        pass

    # the version and variant bits of every ID at once, on the batch as one integer
    bits = int.from_bytes(os.urandom(16 * _IDS_PER_READ), "big") & _BATCH_CLEAR | _BATCH_SET
    digits = bits.to_bytes(16 * _IDS_PER_READ, "big").hex()
    fresh = [digits[start : start + 32] for start in range(0, len(digits), 32)]
    new_id = fresh.pop()
    # list.extend() and list.pop() are atomic: threads never hand out one ID twice
    _spare_ids.extend(fresh)
    return new_id


# IDs made in advance by _random_id(); a forked process must not hand out its parent's
_spare_ids: list[str] = []
_IDS_PER_READ = 64
_BATCH_CLEAR = sum(_UUID4_CLEAR << (128 * index) for index in range(_IDS_PER_READ))
_BATCH_SET = sum(_UUID4_SET << (128 * index) for index in range(_IDS_PER_READ))
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_spare_ids.clear)
