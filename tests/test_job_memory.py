"""Jobs keep little per-job state; what they save must not change what users see."""

from __future__ import annotations

import pickle
import uuid
from datetime import datetime, timezone

from apscheduler.job import Job
from apscheduler.triggers.date import DateTrigger

RUN_DATE = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class UTCScheduler:
    timezone = timezone.utc


def archive(folder: str, compress: bool = False) -> str:
    return folder


def build_job(**options) -> Job:
    options.setdefault("args", ("/var/log",))
    options.setdefault("kwargs", {})
    return Job(
        UTCScheduler(),
        func=archive,
        trigger=DateTrigger(RUN_DATE),
        executor="default",
        misfire_grace_time=1,
        coalesce=True,
        max_instances=1,
        next_run_time=RUN_DATE,
        **options,
    )


def test_new_job_ids_are_uuid4_hex_strings():
    ids = {build_job().id for _ in range(200)}

    assert len(ids) == 200
    for job_id in ids:
        parsed = uuid.UUID(hex=job_id)
        assert parsed.hex == job_id
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_job_without_kwargs_still_hands_out_one_dict_that_keeps_changes():
    job = build_job()

    job.kwargs["compress"] = True

    assert job.kwargs == {"compress": True}
    assert job.kwargs is job.kwargs


def test_a_job_without_kwargs_pickles_an_empty_dict():
    job = build_job()

    assert job.__getstate__()["kwargs"] == {}
    restored = pickle.loads(pickle.dumps(job))
    assert restored.kwargs == {}


def test_kwargs_given_to_a_job_survive_pickling():
    job = build_job(kwargs={"compress": True})

    assert pickle.loads(pickle.dumps(job)).kwargs == {"compress": True}


def test_assigning_kwargs_replaces_them():
    job = build_job(kwargs={"compress": True})

    job.kwargs = {"compress": False}

    assert job.kwargs == {"compress": False}
