"""Run ids of shared stores: random UUID4s from batched random bytes, never repeated."""

from __future__ import annotations

import threading
import uuid
from unittest import mock

from apscheduler.schedulers._processing import new_run_id


def test_run_ids_are_uuid4_hex_strings() -> None:
    for _ in range(200):
        run_id = new_run_id()
        parsed = uuid.UUID(hex=run_id)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert parsed.hex == run_id


def test_threads_never_get_the_same_run_id() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        for _ in range(2_000):
            into.append(new_run_id())

    threads = [threading.Thread(target=make, args=(ids,)) for ids in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every_id = [run_id for ids in made for run_id in ids]
    assert len(set(every_id)) == len(every_id) == 8_000


def test_a_patched_job_uuid4_sets_job_ids_but_not_run_ids() -> None:
    # test suites patch apscheduler.job.uuid4 for predictable job ids, as in APScheduler 3;
    # run ids must stay unique, or the runs of two jobs would share one history record
    with mock.patch("apscheduler.job.uuid4", return_value=uuid.UUID(int=7)):
        assert new_run_id() != new_run_id()
