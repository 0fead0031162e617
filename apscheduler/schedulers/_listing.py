"""Listing, printing, exporting and importing the scheduler's jobs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import IO, TYPE_CHECKING, Any, cast

from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, UnloadableJob

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

# the value of STATE_STOPPED (defined in base, which imports this module)
_STATE_STOPPED = 0


class ListingAPI:
    """Mixed into :class:`~apscheduler.schedulers.base.BaseScheduler`; documented there."""

    # Set or implemented by BaseScheduler (and the other mixins); declared here for readers and
    # type checkers. This class is only mixed into BaseScheduler, so
    # ``cast("BaseScheduler", self)`` is safe.
    state: int
    _jobstores: dict[str, BaseJobStore]
    _jobstores_lock: AbstractContextManager[Any, None]
    _pending_jobs: list[tuple[Job, str, bool]]
    get_jobs: Callable[[str | None], list[Job]]
    _lookup_jobstore: Callable[[str], BaseJobStore]

    def get_unloadable_jobs(self, jobstore: str | None = None) -> list[UnloadableJob]:
        """
        Return the stored jobs that could not be loaded (broken callable, trigger or pickle).

        Such jobs stay in their stores untouched; remove them with :meth:`remove_job`, or fix
        the code and they load again on the next pass.

        :param jobstore: alias of the job store to look in (all of them if ``None``)

        .. versionadded:: 3.12.0
        """
        with self._jobstores_lock:
            return [
                unloadable
                for alias, store in self._jobstores.items()
                if jobstore is None or alias == jobstore
                for unloadable in store.get_unloadable_jobs()
            ]

    def print_jobs(self, jobstore: str | None = None, out: IO[str] | None = None) -> None:
        """
        print_jobs(jobstore=None, out=sys.stdout)

        Prints out a textual listing of all jobs currently scheduled on either all job stores or
        just a specific one.

        :param jobstore: alias of the job store, ``None`` to list jobs from all stores
        :param out: a file-like object to print to (defaults to **sys.stdout** if nothing is
            given)
        """
        out = out or sys.stdout
        with self._jobstores_lock:
            if self.state == _STATE_STOPPED:
                print("Pending jobs:", file=out)
                if self._pending_jobs:
                    for job, jobstore_alias, _replace_existing in self._pending_jobs:
                        if jobstore in (None, jobstore_alias):
                            print(f"    {job}", file=out)
                else:
                    print("    No pending jobs", file=out)
            else:
                for alias, store in sorted(self._jobstores.items()):
                    if jobstore in (None, alias):
                        print(f"Jobstore {alias}:", file=out)
                        jobs = store.get_all_jobs()
                        if jobs:
                            for job in jobs:
                                print(f"    {job}", file=out)
                        else:
                            print("    No scheduled jobs", file=out)

    def export_jobs(self, outfile: Any, jobstore: str | None = None) -> None:
        """
        Export stored jobs as JSON.

        :param outfile: either a file object opened in text write mode ("w"), or a path
            to the target file
        :param jobstore: alias of the job store to export jobs from (if omitted, export
            from all configured job stores)
        :raises RuntimeError: if the scheduler has not been started
        """
        from apscheduler.schedulers._export import write_jobs

        if self.state == _STATE_STOPPED:
            raise RuntimeError("the scheduler must have been started for job export to work")

        write_jobs(self.get_jobs(jobstore), outfile)

    def import_jobs(self, infile: Any, jobstore: str = "default") -> None:
        """
        Import jobs previously exported via :meth:`export_jobs`.

        :param infile: either a file object opened in text read mode ("r") or a path to
            a JSON file containing previously exported jobs
        :param jobstore: the alias of the job store to import the jobs to
        :raises ValueError: if the file is not an export of a supported version
        """
        from apscheduler.schedulers._export import read_job_states

        with self._jobstores_lock:
            store = self._lookup_jobstore(jobstore)
            for job_state in read_job_states(infile):
                job = Job.__new__(Job)
                job.__setstate__(job_state)
                job._scheduler = cast("BaseScheduler", self)
                job._jobstore_alias = jobstore
                store.add_job(job)
