"""Stores jobs in a ZooKeeper tree, one node per job."""

from __future__ import annotations

import pickle
import posixpath
from datetime import datetime, timezone as timezone
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    PersistentJobStore,
)
from apscheduler.jobstores.base import (
    BaseJobStore as BaseJobStore,
    ConflictingIdError,
    JobLookupError,
)
from apscheduler.util import (
    datetime_to_utc_timestamp,
    maybe_ref,
    utc_timestamp_to_datetime as utc_timestamp_to_datetime,
)

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

try:
    from kazoo.client import KazooClient
    from kazoo.exceptions import (
        AuthFailedError,
        ConnectionClosedError,
        ConnectionLoss,
        NoAuthError,
        NodeExistsError,
        NoNodeError,
        OperationTimeoutError,
        SessionExpiredError,
    )
    from kazoo.handlers.threading import KazooTimeoutError
except ImportError as exc:  # pragma: no cover
    raise ImportError("ZooKeeperJobStore requires Kazoo installed") from exc

__all__ = ["KazooClient", "ZooKeeperJobStore"]

_TEMPORARY_ERRORS = (
    ConnectionClosedError,
    ConnectionLoss,
    KazooTimeoutError,
    OperationTimeoutError,
    SessionExpiredError,
)


class ZooKeeperJobStore(PersistentJobStore):
    """
    Stores jobs in a ZooKeeper tree. Any leftover keyword arguments are directly passed to
    kazoo's :class:`~kazoo.client.KazooClient`.

    Each job is a child node of ``path`` named after the job id, holding the pickled dictionary
    ``{"next_run_time": timestamp, "job_state": state}`` as APScheduler 3 wrote it. Every pass
    of the scheduler reads all the nodes, so this store suits schedules of moderate size.

    Plugin alias: ``zookeeper``

    :param path: path to store jobs in
    :param client: a :class:`~kazoo.client.KazooClient` instance to use instead of providing
        connection arguments (may also be a ``module:name`` reference); started if not
        connected yet
    :param close_connection_on_exit: whether to stop and close the client on shutdown
    :param pickle_protocol: pickle protocol level to use (for serialization), defaults to the
        highest available
    :param retry_timeout: seconds one operation keeps retrying a lost connection or another
        temporary error before raising it (``0`` disables retrying)
    :param recheck_interval: seconds between attempts to load a due job that failed to load
    :param serializer: how jobs are written: ``"pickle"`` (the default, APScheduler 3's format)
        or ``"json"``, which loads no code but the jobs' callables (see :doc:`/security`)
    :param pickle_secret: a secret to sign pickles with (bytes, or the name of an environment
        variable holding it): a pickle without a valid signature is then never unpickled, and
        is reported as an unloadable job
    :raises ValueError: if ``path`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried.
    """

    _wraps_state = True

    def __init__(
        self,
        path: str = "/apscheduler",
        client: KazooClient | str | None = None,
        close_connection_on_exit: bool = False,
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
        *,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        serializer: str = "pickle",
        pickle_secret: bytes | str | None = None,
        **connect_args: Any,
    ) -> None:
        super().__init__(
            pickle_protocol,
            retry_timeout,
            recheck_interval,
            serializer=serializer,
            pickle_secret=pickle_secret,
        )
        if not path:
            raise ValueError('The "path" parameter must not be empty')

        self.path = path
        self.close_connection_on_exit = close_connection_on_exit
        self.client: KazooClient = maybe_ref(client) if client else KazooClient(**connect_args)

    def _node(self, job_id: str) -> str:
        return posixpath.join(self.path, job_id)

    # --- set-up and error policy -----------------------------------------------------------

    def _setup_storage(self) -> None:
        if not self.client.connected:
            # kazoo waits 15 seconds by default; a dead server should not outlast retry_timeout
            self.client.start(timeout=min(15.0, max(1.0, self.retry_timeout)))
        self.client.ensure_path(self.path)

    def _explain_setup_error(self, exc: Exception) -> str:
        message = super()._explain_setup_error(exc)
        if isinstance(exc, (AuthFailedError, NoAuthError)):
            return f"{message} (check the credentials and ACLs for {self.path!r})"
        return message

    def _is_temporary_error(self, exc: BaseException) -> bool:
        return isinstance(exc, _TEMPORARY_ERRORS)

    # --- reading ---------------------------------------------------------------------------

    def _fetch_all(self) -> list[tuple[str, float | None, Any]]:
        def fetch() -> list[tuple[str, bytes]]:
            names = self.client.get_children(self.path)
            # ask for every node before waiting for any answer: one round trip, not one per job
            pending = [(name, self.client.get_async(self._node(name))) for name in names]
            records = []
            for name, result in pending:
                try:
                    records.append((name, result.get()[0]))
                except NoNodeError:
                    pass  # removed since the listing
            return records

        return [self._unwrap(name, data) for name, data in self._run(fetch)]

    def lookup_job(self, job_id: str) -> Job | None:
        def fetch() -> bytes | None:
            try:
                data: bytes = self.client.get(self._node(job_id))[0]
                return data
            except NoNodeError:
                return None

        data = self._run(fetch)
        return self._load(*self._unwrap(job_id, data)) if data is not None else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        timestamp = datetime_to_utc_timestamp(now)
        assert timestamp is not None  # now is a datetime
        rows = [row for row in self._fetch_all() if row[1] is not None and row[1] <= timestamp]
        rows.sort(key=lambda row: (row[1], row[0]))
        return self._load_due(rows, now)

    def get_next_run_time(self) -> datetime | None:
        rows = [(job_id, run_time) for job_id, run_time, _ in self._fetch_all()]
        rows.sort(key=lambda row: (row[1] is None, row[1] or 0.0, row[0]))
        return self._next_run_time(rows)

    def get_all_jobs(self) -> list[Job]:
        return self._load_all(self._fetch_all())

    # --- writing ---------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        node = self._node(job.id)
        data = self._serialize(job)

        def create() -> bool:
            try:
                self.client.create(node, data)
            except NodeExistsError:
                return False
            return True

        # a retry after a reply that was lost finds its own node: that is fine
        def created_before(created: bool) -> bool:
            return created or self.client.get(node)[0] == data

        if not self._run(create, applied_on_retry=created_before):
            raise ConflictingIdError(job.id)
        self._clear_load_failure(job.id)

    def update_job(self, job: Job) -> None:
        data = self._serialize(job)

        def write() -> bool:
            try:
                self.client.set(self._node(job.id), data)
            except NoNodeError:
                return False
            return True

        if not self._run(write):
            raise JobLookupError(job.id)
        self._clear_load_failure(job.id)

    def remove_job(self, job_id: str) -> None:
        def delete() -> bool:
            try:
                self.client.delete(self._node(job_id))
            except NoNodeError:
                return False
            return True

        # a retry after a reply that was lost finds the node gone: that is fine
        if not self._run(delete, applied_on_retry=lambda deleted: True):
            raise JobLookupError(job_id)
        self._clear_load_failure(job_id)

    def remove_all_jobs(self) -> None:
        def delete_all() -> None:
            try:
                self.client.delete(self.path, recursive=True)
            except NoNodeError:
                pass
            self.client.ensure_path(self.path)

        self._run(delete_all)
        self._clear_load_failure()

    def shutdown(self) -> None:
        if self.close_connection_on_exit:
            self.client.stop()
            self.client.close()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (client={self.client})>"
