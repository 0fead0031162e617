"""Stores jobs in etcd, one key per job."""

from __future__ import annotations

import pickle
import warnings
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
    # etcd3's generated protobuf modules use descriptor calls that newer protobuf releases
    # flag as deprecated; that is etcd3's business, not something our users can act on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from etcd3 import Etcd3Client
        from etcd3.exceptions import (
            ConnectionFailedError,
            ConnectionTimeoutError,
            InternalServerError,
        )
        from etcd3.utils import increment_last_byte
except ImportError as exc:  # pragma: no cover
    raise ImportError("EtcdJobStore requires etcd3 be installed") from exc

__all__ = ["Etcd3Client", "EtcdJobStore"]

# keys per range request: well under the 4 MiB default message size of gRPC for typical jobs
_PAGE_SIZE = 500


class EtcdJobStore(PersistentJobStore):
    """
    Stores jobs in etcd. Any leftover keyword arguments are directly passed to etcd3's
    :class:`~etcd3.Etcd3Client`.

    Each job is the key ``<path>/<job id>``, holding the pickled dictionary
    ``{"next_run_time": timestamp, "job_state": state}`` as APScheduler 3 wrote it. Every pass
    of the scheduler reads all the keys, so this store suits schedules of moderate size.

    Plugin alias: ``etcd``

    :param path: path to store jobs in
    :param client: a :class:`~etcd3.Etcd3Client` instance to use instead of providing
        connection arguments (may also be a ``module:name`` reference)
    :param close_connection_on_exit: whether to close a client passed as ``client`` on shutdown
        (a client the store created itself is always closed)
    :param pickle_protocol: pickle protocol level to use (for serialization), defaults to
        :data:`pickle.DEFAULT_PROTOCOL`
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
        retried; a client passed in is closed on shutdown only if
        ``close_connection_on_exit`` is true.
    """

    _wraps_state = True

    def __init__(
        self,
        path: str = "/apscheduler",
        client: Etcd3Client | str | None = None,
        close_connection_on_exit: bool = False,
        pickle_protocol: int = pickle.DEFAULT_PROTOCOL,
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
        self._owns_client = not client
        self.client: Etcd3Client = maybe_ref(client) if client else Etcd3Client(**connect_args)
        # the trailing slash keeps "/apscheduler2/..." out of a scan of "/apscheduler"
        self._prefix = f"{path}/"

    def _key(self, job_id: str) -> str:
        return self._prefix + job_id

    # --- set-up and error policy -----------------------------------------------------------

    def _setup_storage(self) -> None:
        # a cheap read that fails on bad credentials or a wrong address right at start-up
        self.client.get(self._prefix)

    def _is_temporary_error(self, exc: BaseException) -> bool:
        return isinstance(
            exc, (ConnectionFailedError, ConnectionTimeoutError, InternalServerError)
        )

    # --- reading ---------------------------------------------------------------------------

    def _fetch_all(self) -> list[tuple[str, float | None, Any]]:
        prefix = self._prefix.encode()
        end = increment_last_byte(prefix)

        def fetch() -> list[tuple[bytes, bytes]]:
            records: list[tuple[bytes, bytes]] = []
            start = prefix
            while True:
                page = list(
                    self.client.get_range(start, end, limit=_PAGE_SIZE, sort_order="ascend")
                )
                records.extend((meta.key, value) for value, meta in page)
                if len(page) < _PAGE_SIZE:
                    return records
                start = page[-1][1].key + b"\0"

        return [
            self._unwrap(key[len(prefix) :].decode(), value) for key, value in self._run(fetch)
        ]

    def lookup_job(self, job_id: str) -> Job | None:
        data, _ = self._run(lambda: self.client.get(self._key(job_id)))
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
        key = self._key(job.id)
        data = self._serialize(job)

        # a retry after a reply that was lost finds its own key: that is fine
        def put_before(put: bool) -> bool:
            return put or self.client.get(key)[0] == data

        if not self._run(lambda: self.client.put_if_not_exists(key, data), put_before):
            raise ConflictingIdError(job.id)
        self._clear_load_failure(job.id)

    def _if_exists(self, key: str, operation: Any) -> bool:
        transactions = self.client.transactions
        succeeded: bool
        succeeded, _ = self.client.transaction(
            compare=[transactions.version(key) > 0], success=[operation], failure=[]
        )
        return succeeded

    def update_job(self, job: Job) -> None:
        key = self._key(job.id)
        data = self._serialize(job)
        if not self._run(lambda: self._if_exists(key, self.client.transactions.put(key, data))):
            raise JobLookupError(job.id)
        self._clear_load_failure(job.id)

    def remove_job(self, job_id: str) -> None:
        key = self._key(job_id)
        # a retry after a reply that was lost finds the key gone: that is fine
        if not self._run(
            lambda: self._if_exists(key, self.client.transactions.delete(key)),
            applied_on_retry=lambda deleted: True,
        ):
            raise JobLookupError(job_id)
        self._clear_load_failure(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self.client.delete_prefix(self._prefix))
        self._clear_load_failure()

    def shutdown(self) -> None:
        if self._owns_client or self.close_connection_on_exit:
            self.client.close()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (client={self.client})>"
