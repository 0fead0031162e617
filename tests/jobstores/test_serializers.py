"""
Jobs stored as signed pickles or as JSON: what a writer of the storage can and cannot make a
scheduler do, run against every shared store on its real server.
"""

from __future__ import annotations

import json
import os
import pickle
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores import migrate
from apscheduler.jobstores._serializers import (
    SIGNED_PREFIX,
    JSONSerializer,
    PickleSerializer,
    SignedPickleSerializer,
    make_serializer,
)
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from tests.conftest import FakeClock

from . import support
from .conftest import PERSISTENT_SHARED_KINDS, _factory
from .support import T0, EveryTrigger, SteppedScheduler, make_job

SECRET = b"the signing secret"
BERLIN = ZoneInfo("Europe/Berlin")
#: the plugin alias of each kind of store, for configuration dicts
PLUGINS = {
    "sqlite": "sqlalchemy",
    "postgresql": "sqlalchemy",
    "mysql": "sqlalchemy",
    "redis": "redis",
    "mongodb": "mongodb",
}


@pytest.fixture(params=PERSISTENT_SHARED_KINDS)
def factory(request, tmp_path):
    """Makes stores of each shared kind, all in one namespace (one storage, many processes)."""
    yield from _factory(request.param, request, tmp_path)


class FileWriter:
    """An object whose unpickling makes a directory: the code an attacker would have run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return os.mkdir, (str(self.path),)


class RawWriter:
    """A serializer that writes the bytes it is given, whatever the job: a storage writer."""

    name = "raw"

    def __init__(self, make_bytes: Any) -> None:
        self.make_bytes = make_bytes

    def dumps(self, document: dict[str, Any]) -> bytes:
        return self.make_bytes(document)

    def loads(self, data: bytes) -> dict[str, Any]:
        raise NotImplementedError


def write_raw(factory, job_id: str, make_bytes: Any) -> None:
    """Store ``make_bytes(state)`` as the record of a job ``job_id``, as an attacker could."""
    attacker = factory(alias="attacker", serializer=RawWriter(make_bytes))
    attacker.add_job(make_job(attacker._scheduler, job_id, T0))


def evil_pickle(path: Path) -> bytes:
    return pickle.dumps({"id": "evil", "payload": FileWriter(path)})


def tampered(path: Path) -> Any:
    """A signed record of a harmless job, with its pickle swapped for a harmful one."""

    def make(state: dict[str, Any]) -> bytes:
        signed = SignedPickleSerializer(SECRET).dumps(state)
        signature = signed[: len(SIGNED_PREFIX) + 32]
        return signature + evil_pickle(path)

    return make


def reasons(store) -> dict[str, str]:
    return {job.job_id: job.reason for job in store.get_unloadable_jobs()}


# --- signed pickles ----------------------------------------------------------------------------


def test_the_payload_runs_in_a_store_that_trusts_pickles(factory, tmp_path):
    """The proof that the payload of the tests below would do harm if it were unpickled."""
    marker = tmp_path / "pwned"
    write_raw(factory, "evil", lambda state: evil_pickle(marker))

    factory(alias="trusting").get_all_jobs()

    assert marker.exists()


@pytest.mark.parametrize(
    "record, reason",
    [
        pytest.param(lambda path: lambda state: evil_pickle(path), "not signed", id="unsigned"),
        pytest.param(tampered, "signature of the stored pickle does not match", id="tampered"),
    ],
)
def test_a_pickle_without_a_valid_signature_is_never_unpickled(factory, tmp_path, record, reason):
    marker = tmp_path / "pwned"
    write_raw(factory, "evil", record(marker))
    victim = factory(alias="victim", pickle_secret=SECRET)

    assert victim.get_all_jobs() == []
    assert victim.get_due_jobs(T0 + timedelta(days=1)) == []
    assert victim.lookup_job("evil") is None

    assert not marker.exists()
    assert "UntrustedJobError" in reasons(victim)["evil"]
    assert reason in reasons(victim)["evil"]
    # kept in the storage, not deleted: another process still finds it and reports it
    assert "evil" in reasons(_loaded(factory(alias="third", pickle_secret=SECRET)))


def _loaded(store):
    store.get_all_jobs()
    return store


def test_signed_jobs_round_trip_between_processes_with_the_secret(factory, monkeypatch):
    monkeypatch.setenv("APSCHEDULER_TEST_SECRET", SECRET.decode())
    writer = factory(alias="writer", pickle_secret=SECRET)
    job = make_job(writer._scheduler, "signed", T0, args=(1, "two"), trigger=EveryTrigger(90))
    writer.add_job(job)

    # the secret named by an environment variable is the same secret
    reader = factory(alias="reader", pickle_secret="APSCHEDULER_TEST_SECRET")
    found = reader.lookup_job("signed")

    assert found.args == (1, "two")
    assert str(found.trigger) == "every[90s]"
    other_secret = _loaded(factory(alias="other", pickle_secret=b"another secret"))
    assert "does not match" in reasons(other_secret)["signed"]


# --- JSON --------------------------------------------------------------------------------------


def every_trigger() -> dict[str, Any]:
    start = datetime(2026, 2, 27, 8, 30, tzinfo=BERLIN)
    return {
        "date": DateTrigger(datetime(2026, 5, 1, 3, 0, tzinfo=BERLIN)),
        "date_fixed_offset": DateTrigger(
            datetime(2026, 5, 1, 3, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        ),
        "interval": IntervalTrigger(
            hours=2,
            seconds=1.5,
            start_date=start,
            end_date=datetime(2027, 1, 1, tzinfo=timezone.utc),
            timezone="UTC",
        ),
        "cron": CronTrigger(
            day_of_week="mon-fri", hour="*/3", minute="5,10", day="last", timezone=BERLIN
        ),
        "cron_positions": CronTrigger(
            day="1st mon,last fri",
            month="jan-mar",
            year="2026-2030",
            week="*/2",
            second=7,
            timezone=timezone(timedelta(hours=-3)),
        ),
        "crontab": CronTrigger.from_crontab("0 9-17 * * 1-5", timezone="America/New_York"),
        "calendarinterval": CalendarIntervalTrigger(
            months=1,
            days=2,
            hour=3,
            minute=4,
            second=5,
            start_date=date(2026, 1, 31),
            end_date=date(2030, 1, 1),
            timezone=BERLIN,
        ),
        "and": AndTrigger(
            [IntervalTrigger(hours=4, start_date=start), CronTrigger(day_of_week="mon")],
            jitter=2,
        ),
        "or": OrTrigger(
            [DateTrigger(datetime(2026, 4, 1, tzinfo=BERLIN)), CronTrigger(hour=5, jitter=1)]
        ),
    }


def next_fire_times(trigger: Any, count: int = 5) -> list[datetime]:
    random.seed(42)  # the same jitter for both triggers compared
    times: list[datetime] = []
    previous = None
    for _ in range(count):
        fire_time = trigger.get_next_fire_time(previous, T0)
        if fire_time is None:
            break
        times.append(fire_time)
        previous = fire_time
    return times


def test_a_json_store_round_trips_every_trigger_for_another_process(factory):
    writer = factory(alias="writer", serializer="json")
    triggers = every_trigger()
    for name, trigger in triggers.items():
        writer.add_job(
            make_job(writer._scheduler, name, T0, trigger=trigger, kwargs={"name": name})
        )

    reader = factory(alias="reader", serializer="json")

    for name, trigger in triggers.items():
        found = reader.lookup_job(name)
        assert found is not None, reasons(reader)
        assert type(found.trigger) is type(trigger)
        # repr as well as ==: aware datetimes are equal in any zone, and the zone must survive
        assert repr(found.trigger.__getstate__()) == repr(trigger.__getstate__()), name
        assert found.trigger.__getstate__() == trigger.__getstate__()
        assert [str(t) for t in next_fire_times(found.trigger)] == [
            str(t) for t in next_fire_times(trigger)
        ], name
        assert found.kwargs == {"name": name}
    assert reasons(reader) == {}


def test_a_json_job_keeps_all_its_settings(factory):
    writer = factory(alias="writer", serializer="json")
    job = make_job(
        writer._scheduler,
        "settings",
        T0,
        args=(1, "two", [3.5, None], {"nested": True}),
        kwargs={"when": "2026-01-01"},
        name="nightly report",
        misfire_grace_time=30,
        coalesce=True,
        max_instances=4,
        trigger=IntervalTrigger(minutes=5, start_date=T0),
        max_retries=2,
        timeout=7.5,
    )
    writer.add_job(job)

    found = factory(alias="reader", serializer="json").lookup_job("settings")

    assert found.func is support.tick
    assert found.args == (1, "two", [3.5, None], {"nested": True})
    assert found.kwargs == {"when": "2026-01-01"}
    assert (found.name, found.misfire_grace_time, found.coalesce) == ("nightly report", 30, True)
    assert (found.max_instances, found.next_run_time) == (4, T0)
    assert found.__getstate__()["run_control"] == job.__getstate__()["run_control"]


@pytest.mark.parametrize(
    "options, named",
    [
        pytest.param({"args": (1, datetime(2026, 1, 1))}, r"args\[1\] \(datetime", id="datetime"),
        pytest.param({"kwargs": {"deep": {"x": {1, 2}}}}, r"kwargs\['deep'\]\['x'\]", id="set"),
        pytest.param({"args": ((1, 2),)}, r"args\[0\] \(\(1, 2\).*tuples", id="tuple"),
        pytest.param({"trigger": EveryTrigger(90)}, "trigger .*built-in triggers", id="trigger"),
    ],
)
def test_a_job_that_json_cannot_hold_is_refused_at_add_job(factory, options, named):
    store = factory(serializer="json")
    options = {"trigger": IntervalTrigger(seconds=30, start_date=T0), **options}
    job = make_job(store._scheduler, "refused", T0, **options)

    with pytest.raises(TypeError, match=named):
        store.add_job(job)

    assert store.lookup_job("refused") is None


def test_an_unknown_trigger_type_is_an_unloadable_job(factory, tmp_path):
    def record(state: dict[str, Any]) -> bytes:
        document = json.loads(JSONSerializer().dumps({**state, "trigger": DateTrigger(T0)}))
        document["job"]["trigger"] = {"type": "os:system", "state": {"command": "touch x"}}
        return json.dumps(document).encode()

    write_raw(factory, "strange", record)
    store = _loaded(factory(alias="reader", serializer="json"))

    assert "unknown trigger type 'os:system'" in reasons(store)["strange"]


def test_a_json_store_never_unpickles(factory, tmp_path):
    marker = tmp_path / "pwned"
    write_raw(factory, "evil", lambda state: evil_pickle(marker))
    store = _loaded(factory(alias="reader", serializer="json"))

    assert not marker.exists()
    assert "never unpickles" in reasons(store)["evil"]


def test_a_plain_pickle_store_reads_json_records(factory):
    """A process not yet given ``serializer="json"`` keeps working on a migrated store."""
    writer = factory(alias="writer", serializer="json")
    writer.add_job(make_job(writer._scheduler, "j", T0, trigger=IntervalTrigger(seconds=30)))

    assert factory(alias="reader").lookup_job("j").next_run_time == T0


# --- migrating ---------------------------------------------------------------------------------


def run_due_jobs(store) -> list[str]:
    """Run the due jobs of ``store`` with a scheduler, and return the labels they recorded."""
    support.RUNS.clear()
    scheduler = SteppedScheduler(
        timezone="UTC",
        clock=FakeClock(T0),
        executors={"default": DebugExecutor()},
        jobstores={"default": store},
    )
    scheduler.start()
    try:
        scheduler._process_jobs()
    finally:
        scheduler.shutdown()
    return list(support.RUNS)


def add_pickled_job(factory) -> Any:
    pickled = factory(alias="pickled")
    trigger = IntervalTrigger(seconds=30, start_date=T0)
    job = make_job(
        pickled._scheduler,
        "migrated",
        T0,
        func=support.record_run,
        args=("ran",),
        trigger=trigger,
        misfire_grace_time=None,
    )
    pickled.add_job(job)
    return pickled


def test_migrating_to_json_rewrites_the_jobs_and_they_still_run(factory, monkeypatch):
    monkeypatch.setattr(support, "RUNS", [])
    pickled = add_pickled_job(factory)
    assert "migrated" in reasons(_loaded(factory(alias="before", serializer="json")))

    result = migrate(pickled, to="json")

    assert result.migrated == ["migrated"]
    assert result.unloadable == []
    json_store = _loaded(factory(alias="after", serializer="json"))
    assert reasons(json_store) == {}
    assert json_store.lookup_job("migrated").args == ("ran",)
    assert run_due_jobs(factory(start=False, serializer="json", poll_interval=3600)) == ["ran"]


def test_migrating_to_signed_pickles_by_configuration(factory, monkeypatch):
    monkeypatch.setattr(support, "RUNS", [])
    add_pickled_job(factory)
    before = _loaded(factory(alias="before", pickle_secret=SECRET))
    assert "not signed" in reasons(before)["migrated"]

    config = {"type": PLUGINS[factory.kind], **factory.options}
    result = migrate(config, to="signed", pickle_secret=SECRET)

    assert result.migrated == ["migrated"]
    assert reasons(_loaded(factory(alias="after", pickle_secret=SECRET))) == {}
    json_store = _loaded(factory(alias="json", serializer="json"))
    assert "no pickle_secret" in reasons(json_store)["migrated"]
    signed = factory(start=False, pickle_secret=SECRET, poll_interval=3600)
    assert run_due_jobs(signed) == ["ran"]


def test_migration_leaves_unreadable_jobs_as_they_are_and_reports_them(factory, tmp_path):
    pickled = add_pickled_job(factory)
    write_raw(factory, "garbage", lambda state: b"\x80\x05not a pickle")

    result = migrate(pickled, to="json")

    assert result.migrated == ["migrated"]
    assert [job.job_id for job in result.unloadable] == ["garbage"]
    assert "garbage" in reasons(_loaded(factory(alias="after", serializer="json")))


# --- the options -------------------------------------------------------------------------------


def test_the_options_choose_the_serializer(monkeypatch):
    monkeypatch.setenv("APSCHEDULER_TEST_SECRET", "from the environment")

    assert type(make_serializer("pickle", 4, None)) is PickleSerializer
    assert make_serializer("pickle", 4, SECRET) == SignedPickleSerializer(SECRET, 4)
    assert make_serializer("json", 4, None) == JSONSerializer(None)
    named = make_serializer("pickle", 4, "APSCHEDULER_TEST_SECRET")
    assert named == SignedPickleSerializer(b"from the environment", 4)
    assert SECRET not in repr(named).encode()


@pytest.mark.parametrize(
    "serializer, secret, message",
    [
        ("yaml", None, "serializer must be one of"),
        ("pickle", "APSCHEDULER_TEST_UNSET_SECRET", "APSCHEDULER_TEST_UNSET_SECRET.*not set"),
        ("pickle", b"", "must not be empty"),
    ],
)
def test_bad_options_are_refused(serializer, secret, message, monkeypatch):
    monkeypatch.delenv("APSCHEDULER_TEST_UNSET_SECRET", raising=False)
    with pytest.raises(ValueError, match=message):
        make_serializer(serializer, 4, secret)


def test_the_command_line_migrates_a_store(tmp_path, capsys, monkeypatch):
    from apscheduler.cli import main
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    pickled = SQLAlchemyJobStore(url=url)
    pickled.start(support.RecordingScheduler(), "default")
    pickled.add_job(make_job(pickled._scheduler, "j", T0, trigger=IntervalTrigger(seconds=30)))
    pickled.shutdown()
    monkeypatch.setenv("APSCHEDULER_TEST_SECRET", "s3cret")

    code = main(
        [
            "jobs",
            "--store",
            url,
            "migrate",
            "--to",
            "signed",
            "--secret-env",
            "APSCHEDULER_TEST_SECRET",
        ]
    )

    assert code == 0
    assert "1 jobs rewritten as signed" in capsys.readouterr().out
    signed = SQLAlchemyJobStore(url=url, pickle_secret="APSCHEDULER_TEST_SECRET")
    signed.start(support.RecordingScheduler(), "default")
    try:
        assert signed.lookup_job("j") is not None
    finally:
        signed.shutdown()
