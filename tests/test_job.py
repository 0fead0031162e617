"""The Job object: option validation, serialisation, text forms and run time computation."""

from __future__ import annotations

import pickle
import weakref
from datetime import datetime, timedelta, timezone
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from apscheduler.job import Job
from apscheduler.triggers.base import BaseTrigger

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 1, 13, 0, tzinfo=BERLIN)


class StandInScheduler:
    """
    Stand-in for a real scheduler: jobs read its ``timezone`` and hand their public methods'
    work to it. It records those calls instead of doing them.
    """

    timezone = BERLIN

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        if name not in ("modify_job", "reschedule_job", "pause_job", "resume_job", "remove_job"):
            raise AttributeError(name)

        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


class EveryTenMinutesTrigger(BaseTrigger):
    """Stand-in for a real trigger: fires every ten minutes after the previous fire time."""

    def get_next_fire_time(self, previous_fire_time, now):
        if previous_fire_time is None:
            return now

        return previous_fire_time + timedelta(minutes=10)

    def __str__(self) -> str:
        return "every 10 minutes"


class Greeter:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}"

    @classmethod
    def create(cls, greeting: str) -> Greeter:
        return cls(greeting)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Greeter) and other.greeting == self.greeting


def greet(name: str, punctuation: str = "!") -> str:
    return f"Hello, {name}{punctuation}"


def shout(name: str) -> str:
    return name.upper()


#: a module-level instance that jobs refer to by text, as ``tests.test_job:howdy.greet``
howdy = Greeter("Howdy")


def build_job(scheduler, trigger, func, args=(), **options) -> Job:
    """Build a job with the options the scheduler always gives; ``next_run_time`` is left out."""
    options = {
        "kwargs": {},
        "executor": "default",
        "name": None,
        "misfire_grace_time": 1,
        "coalesce": True,
        "max_instances": 1,
        **options,
    }
    return Job(scheduler, func=func, args=args, trigger=trigger, **options)


@pytest.fixture
def scheduler() -> StandInScheduler:
    return StandInScheduler()


@pytest.fixture
def trigger() -> EveryTenMinutesTrigger:
    return EveryTenMinutesTrigger()


@pytest.fixture
def job(scheduler, trigger) -> Job:
    """A job built the way the scheduler builds one, with every option given."""
    return Job(
        scheduler,
        id="greeting",
        func=greet,
        args=("world",),
        kwargs={"punctuation": "?"},
        trigger=trigger,
        executor="default",
        name=None,
        misfire_grace_time=1,
        coalesce=True,
        max_instances=1,
        next_run_time=START,
    )


# --- construction -------------------------------------------------------------------------------


def test_job_gets_the_callables_name_and_a_reference_to_it(job):
    assert job.name == "greet"
    assert job.func is greet
    assert job.func_ref == "tests.test_job:greet"


def test_job_without_an_id_gets_a_random_hex_id(scheduler, trigger):
    first = build_job(scheduler, trigger, greet, ("a",))
    second = build_job(scheduler, trigger, greet, ("a",))

    assert len(first.id) == 32
    int(first.id, 16)
    assert first.id != second.id


def test_text_reference_is_resolved_to_the_callable(scheduler, trigger):
    job = build_job(scheduler, trigger, "tests.test_job:greet", ("a",))

    assert job.func is greet
    assert job.func_ref == "tests.test_job:greet"


def test_callable_without_a_reference_is_kept_without_one(scheduler, trigger):
    job = build_job(scheduler, trigger, lambda: "hi", ())

    assert job.func() == "hi"
    assert job.func_ref is None
    assert job.name == "test_callable_without_a_reference_is_kept_without_one.<locals>.<lambda>"


def test_kwargs_are_copied_so_the_callers_dict_can_change(scheduler, trigger):
    kwargs = {"punctuation": "."}
    job = build_job(scheduler, trigger, greet, ("a",), kwargs=kwargs)

    kwargs["punctuation"] = "!!!"

    assert job.kwargs == {"punctuation": "."}


def test_jobs_are_weakly_referenceable(job):
    assert weakref.ref(job)() is job


# --- _modify validation -------------------------------------------------------------------------


def test_unknown_options_raise_attribute_error_listing_them(job):
    """They are listed in the order given, as APScheduler 3 does."""
    with pytest.raises(AttributeError) as caught:
        job._modify(jobstore="other", bogus=1, name="fine")

    assert (
        str(caught.value) == "The following are not modifiable attributes of Job: jobstore, bogus"
    )

    assert job.name == "greet"


def test_id_cannot_be_changed(job):
    with pytest.raises(ValueError, match="The job ID may not be changed"):
        job._modify(id="another")


@pytest.mark.parametrize("bad_id", [5, "", None, b"bytes"], ids=["int", "empty", "none", "bytes"])
def test_id_must_be_a_nonempty_string(scheduler, trigger, bad_id):
    job = Job.__new__(Job)
    job._scheduler = scheduler

    with pytest.raises(TypeError) as caught:
        job._modify(id=bad_id)

    assert str(caught.value) == "id must be a nonempty string"
    assert caught.value.__notes__ == [f"got {bad_id!r}"]


@pytest.mark.parametrize("bad_name", ["", 5, None], ids=["empty", "int", "none"])
def test_name_must_be_a_nonempty_string(job, bad_name):
    with pytest.raises(TypeError) as caught:
        job._modify(name=bad_name)

    assert str(caught.value) == "name must be a nonempty string"
    assert caught.value.__notes__ == [f"got {bad_name!r}"]


def test_name_can_be_changed(job):
    job._modify(name="Friendly greeting")

    assert job.name == "Friendly greeting"


@pytest.mark.parametrize(
    "bad_value",
    [0, -5, 1.5, "10", True],
    ids=["zero", "negative", "float", "text", "bool"],
)
def test_misfire_grace_time_must_be_a_positive_int_or_none(job, bad_value):
    with pytest.raises(TypeError) as caught:
        job._modify(misfire_grace_time=bad_value)

    assert str(caught.value) == "misfire_grace_time must be either None or a positive integer"
    assert caught.value.__notes__ == [f"got {bad_value!r}"]


@pytest.mark.parametrize("value", [None, 1, 3600], ids=["unlimited", "one", "hour"])
def test_misfire_grace_time_accepts_none_and_positive_ints(job, value):
    job._modify(misfire_grace_time=value)

    assert job.misfire_grace_time == value


@pytest.mark.parametrize(
    "value, expected", [(0, False), ("", False), (1, True), ("no", True)], ids=repr
)
def test_coalesce_is_coerced_to_bool(job, value, expected):
    """Any truthy value turns coalescing on; even the text "no" (use asbool for words)."""
    job._modify(coalesce=value)

    assert job.coalesce is expected


@pytest.mark.parametrize(
    "bad_value", [0, -1, 2.0, "3", True], ids=["zero", "negative", "float", "text", "bool"]
)
def test_max_instances_must_be_a_positive_int(job, bad_value):
    with pytest.raises(TypeError) as caught:
        job._modify(max_instances=bad_value)

    assert str(caught.value) == "max_instances must be a positive integer"
    assert caught.value.__notes__ == [f"got {bad_value!r}"]


def test_max_instances_can_be_raised(job):
    job._modify(max_instances=5)

    assert job.max_instances == 5


def test_trigger_must_be_a_trigger_instance(job):
    with pytest.raises(TypeError, match="Expected a trigger instance, got str instead"):
        job._modify(trigger="interval")


def test_trigger_can_be_swapped(job):
    new_trigger = EveryTenMinutesTrigger()

    job._modify(trigger=new_trigger)

    assert job.trigger is new_trigger


def test_executor_must_be_a_string(job):
    with pytest.raises(TypeError) as caught:
        job._modify(executor=5)

    assert str(caught.value) == "executor must be a string"
    assert caught.value.__notes__ == ["got 5"]


def test_executor_alias_can_be_changed(job):
    job._modify(executor="processpool")

    assert job.executor == "processpool"


def test_func_must_be_callable_or_a_reference(job):
    with pytest.raises(TypeError) as caught:
        job._modify(func=42)

    assert str(caught.value) == "func must be a callable or a textual reference to one"
    assert caught.value.__notes__ == ["got 42"]


def test_func_reference_without_colon_is_rejected(job):
    with pytest.raises(ValueError, match="Invalid reference"):
        job._modify(func="tests.test_job.greet")


def test_func_reference_to_nothing_raises_lookup_error(job):
    with pytest.raises(LookupError, match="tests.test_job:no_such_function"):
        job._modify(func="tests.test_job:no_such_function")


def test_new_func_keeps_the_jobs_name(job):
    job._modify(func=shout, args=("x",), kwargs={})

    assert job.func is shout
    assert job.func_ref == "tests.test_job:shout"
    assert job.name == "greet"


@pytest.mark.parametrize("bad_args", ["text", 5], ids=["string", "int"])
def test_args_must_be_a_non_string_iterable(job, bad_args):
    with pytest.raises(TypeError) as caught:
        job._modify(args=bad_args)

    assert str(caught.value) == "args must be a non-string iterable"
    assert caught.value.__notes__ == [f"got {bad_args!r}"]


@pytest.mark.parametrize("bad_kwargs", ["text", [("a", 1)]], ids=["string", "list"])
def test_kwargs_must_be_a_mapping(job, bad_kwargs):
    with pytest.raises(TypeError) as caught:
        job._modify(kwargs=bad_kwargs)

    assert str(caught.value) == "kwargs must be a dict-like object"
    assert caught.value.__notes__ == [f"got {bad_kwargs!r}"]


def test_args_from_any_iterable_are_accepted(job):
    job._modify(args=["everyone"])

    assert tuple(job.args) == ("everyone",)


def test_arguments_the_callable_cannot_take_raise_value_error(job):
    with pytest.raises(ValueError, match="does not accept the following keyword arguments: tone"):
        job._modify(kwargs={"tone": "loud"})


def test_new_callable_is_checked_against_the_current_arguments(job):
    """shout() takes no ``punctuation``, which the job's current kwargs give."""
    with pytest.raises(ValueError, match="punctuation"):
        job._modify(func=shout)

    assert job.func is greet


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-03-01 14:30:00", datetime(2026, 3, 1, 14, 30, tzinfo=BERLIN)),
        ("2026-03-01T13:30:00Z", datetime(2026, 3, 1, 13, 30, tzinfo=timezone.utc)),
    ],
    ids=["naive-text-in-scheduler-zone", "utc-text"],
)
def test_next_run_time_accepts_text(job, text, expected):
    job._modify(next_run_time=text)

    assert job.next_run_time == expected
    assert job.next_run_time.utcoffset() == expected.utcoffset()


def test_naive_next_run_time_gets_the_scheduler_zone(job):
    job._modify(next_run_time=datetime(2026, 7, 1, 9, 0))

    assert job.next_run_time == datetime(2026, 7, 1, 9, 0, tzinfo=BERLIN)
    assert job.next_run_time.utcoffset() == timedelta(hours=2)


def test_next_run_time_none_pauses_the_job(job):
    job._modify(next_run_time=None)

    assert job.next_run_time is None


def test_next_run_time_of_the_wrong_type_raises_type_error(job):
    with pytest.raises(TypeError, match="Unsupported type for next_run_time: int"):
        job._modify(next_run_time=1700000000)


def test_unparseable_next_run_time_raises_value_error(job):
    with pytest.raises(ValueError, match="^Invalid date string") as caught:
        job._modify(next_run_time="soon")

    assert str(caught.value) == "Invalid date string"
    assert caught.value.__notes__ == ["next_run_time: 'soon'"]


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "renamed", "max_instances": 0},
        {"name": "renamed", "next_run_time": "never"},
        {"name": "renamed", "bogus": True},
        {"name": "renamed", "func": shout},
    ],
    ids=["bad-max-instances", "bad-next-run-time", "unknown-key", "bad-arguments-for-func"],
)
def test_nothing_changes_if_any_change_is_invalid(job, changes):
    before = job.__getstate__()

    with pytest.raises((TypeError, ValueError, AttributeError)):
        job._modify(**changes)

    assert job.__getstate__() == before


# --- delegation to the scheduler ----------------------------------------------------------------


def test_public_methods_delegate_to_the_scheduler_with_the_store_alias(job, scheduler, trigger):
    job._jobstore_alias = "archive"

    assert job.modify(max_instances=3) is job
    assert job.reschedule("interval", minutes=5) is job
    assert job.pause() is job
    assert job.resume() is job
    assert job.remove() is None

    assert scheduler.calls == [
        ("modify_job", ("greeting", "archive"), {"max_instances": 3}),
        ("reschedule_job", ("greeting", "archive", "interval"), {"minutes": 5}),
        ("pause_job", ("greeting", "archive"), {}),
        ("resume_job", ("greeting", "archive"), {}),
        ("remove_job", ("greeting", "archive"), {}),
    ]


def test_job_is_pending_until_it_is_given_a_store(job):
    assert job.pending

    job._jobstore_alias = "default"

    assert not job.pending


# --- run times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minutes_after_start, expected_minutes",
    [(-1, []), (0, [0]), (9, [0]), (25, [0, 10, 20]), (30, [0, 10, 20, 30])],
    ids=["not-yet-due", "exactly-due", "before-second-run", "three-runs-due", "boundary-included"],
)
def test_run_times_are_those_up_to_and_including_now(job, minutes_after_start, expected_minutes):
    now = START + timedelta(minutes=minutes_after_start)

    run_times = job._get_run_times(now)

    assert run_times == [START + timedelta(minutes=minutes) for minutes in expected_minutes]


def test_paused_job_has_no_run_times(job):
    job._modify(next_run_time=None)

    assert job._get_run_times(START + timedelta(days=1)) == []


# --- text forms and equality --------------------------------------------------------------------


def test_str_shows_name_trigger_and_next_run_time(job):
    assert str(job) == "greet (trigger: every 10 minutes, next run at: 2026-03-01 13:00:00 CET)"


def test_str_of_a_paused_job(job):
    job._modify(next_run_time=None)

    assert str(job) == "greet (trigger: every 10 minutes, paused)"


def test_str_of_a_job_without_a_run_time_yet(scheduler, trigger):
    job = build_job(scheduler, trigger, greet, ("a",))

    assert str(job) == "greet (trigger: every 10 minutes, pending)"


def test_repr_shows_id_and_name(job):
    assert repr(job) == "<Job (id=greeting name=greet)>"


def test_jobs_are_equal_when_their_ids_are(job, scheduler, trigger):
    same_id = build_job(scheduler, trigger, shout, ("a",), id="greeting")
    other_id = build_job(scheduler, trigger, greet, ("a",), id="other")

    assert job == same_id
    assert hash(job) == hash(same_id)
    assert job != other_id
    assert job != "greeting"


# --- serialisation ------------------------------------------------------------------------------


def test_state_is_a_version_1_dict_with_a_text_reference(job, trigger):
    assert job.__getstate__() == {
        "version": 1,
        "id": "greeting",
        "func": "tests.test_job:greet",
        "trigger": trigger,
        "executor": "default",
        "args": ("world",),
        "kwargs": {"punctuation": "?"},
        "name": "greet",
        "misfire_grace_time": 1,
        "coalesce": True,
        "max_instances": 1,
        "next_run_time": START,
    }


def test_pickled_job_comes_back_whole_but_detached(job):
    job._jobstore_alias = "default"

    restored = pickle.loads(pickle.dumps(job))

    assert restored.__getstate__() == {**job.__getstate__(), "trigger": restored.trigger}
    assert isinstance(restored.trigger, EveryTenMinutesTrigger)
    assert restored.func is greet
    assert restored.func(*restored.args, **restored.kwargs) == "Hello, world?"
    # the store that loads a job attaches it to its scheduler and itself
    assert restored._scheduler is None
    assert restored._jobstore_alias is None


def test_bound_method_job_stores_its_instance_as_the_first_argument(scheduler, trigger):
    greeter = Greeter("Howdy")
    job = build_job(scheduler, trigger, greeter.greet, ("partner",), next_run_time=START)

    state = job.__getstate__()
    restored = pickle.loads(pickle.dumps(job))

    assert state["func"] == "tests.test_job:Greeter.greet"
    assert state["args"] == (greeter, "partner")
    assert restored.func is Greeter.greet
    assert restored.func(*restored.args) == "Howdy, partner"
    assert job.args == ("partner",)


def test_text_reference_to_a_module_level_instances_method_keeps_the_instance_out(
    scheduler, trigger
):
    """The reference resolves to the bound method again, so the instance must not be stored."""
    job = build_job(
        scheduler, trigger, "tests.test_job:howdy.greet", ["partner"], next_run_time=START
    )

    state = job.__getstate__()
    restored = pickle.loads(pickle.dumps(job))

    assert (state["func"], state["args"]) == ("tests.test_job:howdy.greet", ["partner"])
    assert restored.func == howdy.greet
    assert restored.func.__self__ is howdy
    assert restored.func(*restored.args, **restored.kwargs) == "Howdy, partner"


def test_bound_method_of_a_module_level_instance_still_stores_the_instance(scheduler, trigger):
    """Given as a method object, its reference is the class path: APScheduler 3 stores both."""
    job = build_job(scheduler, trigger, howdy.greet, ("partner",), next_run_time=START)

    state = job.__getstate__()

    assert state["func"] == "tests.test_job:Greeter.greet"
    assert state["args"] == (howdy, "partner")


def test_class_method_job_needs_no_instance(scheduler, trigger):
    job = build_job(scheduler, trigger, Greeter.create, ("Hi",), next_run_time=START)

    restored = pickle.loads(pickle.dumps(job))

    assert job.__getstate__()["args"] == ("Hi",)
    assert restored.func(*restored.args) == Greeter("Hi")


def test_state_written_by_apscheduler_3_loads(trigger):
    """A state dict the way APScheduler 3.x pickled it into persistent stores."""
    state = {
        "version": 1,
        "id": "b9a2a4f6c1d84e1f9f0e4e2b9c8d7a61",
        "func": "tests.test_job:greet",
        "trigger": trigger,
        "executor": "default",
        "args": ["stored"],
        "kwargs": {},
        "name": "nightly greeting",
        "misfire_grace_time": None,
        "coalesce": False,
        "max_instances": 3,
        "next_run_time": START,
    }
    job = Job.__new__(Job)

    job.__setstate__(state)

    assert (job.id, job.name, job.func, job.func_ref) == (
        "b9a2a4f6c1d84e1f9f0e4e2b9c8d7a61",
        "nightly greeting",
        greet,
        "tests.test_job:greet",
    )
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (None, False, 3)
    assert job.next_run_time == START
    assert job.func(*job.args) == "Hello, stored!"
    assert job.pending


def test_state_from_a_newer_version_is_refused(job):
    state = {**job.__getstate__(), "version": 2}

    with pytest.raises(ValueError, match="Job has version 2, but only version 1 can be handled"):
        Job.__new__(Job).__setstate__(state)


def _nested_function_job(scheduler, trigger):
    def nested() -> None:
        pass

    return build_job(scheduler, trigger, nested, ())


@pytest.mark.parametrize(
    "make_job",
    [
        lambda scheduler, trigger: build_job(scheduler, trigger, lambda: None, ()),
        _nested_function_job,
        lambda scheduler, trigger: build_job(scheduler, trigger, partial(greet, "x"), ()),
    ],
    ids=["lambda", "nested-function", "partial"],
)
def test_job_whose_callable_has_no_reference_cannot_be_serialized(scheduler, trigger, make_job):
    job = make_job(scheduler, trigger)

    with pytest.raises(ValueError, match="cannot be serialized"):
        job.__getstate__()
    with pytest.raises(ValueError, match="Consider giving a textual reference"):
        pickle.dumps(job)
