"""Writing jobs to JSON and reading them back, for ``export_jobs`` and ``import_jobs``."""

from __future__ import annotations

import json
import pickle
from base64 import b64decode, b64encode
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, cast

from apscheduler.util import _with_note, obj_to_ref, ref_to_obj

FORMAT_VERSION = 1
_CLASS_KEY = "__apscheduler_class__"
_STATE_KEY = "__apscheduler_state__"
_PICKLE_KEY = "__apscheduler_pickle__"


def _encode(obj: Any) -> Any:
    """
    Turn what json cannot write into a tagged dict: a class reference and its state, or a pickle.

    Only an object that restores itself with ``__setstate__`` from a dict (triggers) is written
    as class and state: that is all APScheduler 3.11's ``import_jobs`` can rebuild that way, so
    its files and ours stay readable by both. Everything else, cron fields and expressions
    included, is pickled, as 3.11 writes it.
    """
    if not isinstance(obj, type) and hasattr(obj, "__setstate__"):
        state_method = getattr(obj, "__getstate__", None)  # not on every object before 3.11
        state = state_method() if state_method is not None else None
        if isinstance(state, Mapping):
            return {_CLASS_KEY: obj_to_ref(type(obj)), _STATE_KEY: state}

    return {_PICKLE_KEY: b64encode(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)).decode("ascii")}


def _decode(tagged: dict[str, Any]) -> Any:
    # files written before 3.12.0 hold cron fields and expressions as class and state too:
    # those classes have no __setstate__, so their state goes into the instance dict
    if _CLASS_KEY in tagged:
        cls = ref_to_obj(tagged[_CLASS_KEY])
        obj = cls.__new__(cls)
        state = tagged[_STATE_KEY]
        if hasattr(obj, "__setstate__"):
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        return obj
    if _PICKLE_KEY in tagged:
        return pickle.loads(b64decode(tagged[_PICKLE_KEY]))

    return tagged


@contextmanager
def _opened(file: Any, mode: str) -> Iterator[IO[str]]:
    if hasattr(file, "read" if mode == "r" else "write"):
        yield file
    else:
        with open(file, mode, encoding="utf-8") as opened:
            yield opened


def write_jobs(jobs: Iterable[Any], outfile: Any) -> None:
    """Write the states of ``jobs`` as JSON to a path or a text file object."""
    from apscheduler import version

    document = {
        "version": FORMAT_VERSION,
        "scheduler_version": version,
        "jobs": [job.__getstate__() for job in jobs],
    }
    with _opened(outfile, "w") as file:
        json.dump(document, file, default=_encode)


def read_job_states(infile: Any) -> list[dict[str, Any]]:
    """
    Read job states written by :func:`write_jobs` from a path or a text file object.

    :raises ValueError: if the document is of another format version
    """
    with _opened(infile, "r") as file:
        document = json.load(file, object_hook=_decode)

    if not isinstance(document, dict):
        raise _with_note(ValueError(), f"expected a JSON object, got {type(document).__name__}")

    if (version := document.get("version")) != FORMAT_VERSION:
        raise _with_note(
            ValueError(f"unrecognized version: {version}"),
            f"only export files of version {FORMAT_VERSION} can be imported",
        )

    # the job states as the format holds them (Job.__setstate__ checks each one)
    return cast("list[dict[str, Any]]", document["jobs"])
