"""
The file ``apscheduler run`` reads: the scheduler's configuration dict and the jobs it declares.

TOML (``.toml``) and JSON (``.json``) are read with the standard library; YAML (``.yaml``,
``.yml``) when PyYAML is installed. All three hold the same structure::

    id_prefix = "demo:"          # optional; default: the file's name and a colon

    [scheduler]                  # the dict BaseScheduler.configure() takes
    timezone = "UTC"
    jobstores.default = { type = "sqlalchemy", url = "sqlite:///demo.sqlite" }

    [[jobs]]
    id = "heartbeat"             # stored as "demo:heartbeat"
    func = "builtins:print"      # a text reference, module:name
    trigger = "interval seconds=10"
    args = ["still alive"]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler._run_control import CONTROL_OPTIONS
from apscheduler.cli._output import CommandError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

#: the keys of a job besides id, func and trigger: the options of add_job()
JOB_OPTIONS = frozenset(
    {
        "args",
        "kwargs",
        "name",
        "jobstore",
        "executor",
        "misfire_grace_time",
        "coalesce",
        "max_instances",
        *CONTROL_OPTIONS,
    }
)
TOP_LEVEL_KEYS = frozenset({"id_prefix", "scheduler", "jobs"})


@dataclass(frozen=True)
class JobSpec:
    """One job as the file declares it."""

    #: the id written in the file (the store's id is the file's prefix and this)
    declared_id: str
    func: str
    #: an expression (``"cron hour=3"``, a crontab line) or a table with ``type``
    trigger: str | Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def jobstore(self) -> str:
        return str(self.options.get("jobstore", "default"))


@dataclass(frozen=True)
class ScheduleFile:
    """A configuration file: the scheduler's configuration and the jobs it declares."""

    path: Path
    scheduler: Mapping[str, Any]
    id_prefix: str
    jobs: tuple[JobSpec, ...]

    def stored_id(self, job: JobSpec) -> str:
        return f"{self.id_prefix}{job.declared_id}"


def load_config(path_text: str) -> ScheduleFile:
    """
    Read and check a configuration file.

    :raises CommandError: if it cannot be read, or is not a valid configuration
    """
    path = Path(path_text)
    data = _read_document(path)
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise CommandError(f"{path}: unknown top-level keys: {', '.join(unknown)}")
    scheduler = data.get("scheduler", {})
    if not isinstance(scheduler, Mapping):
        raise CommandError(f"{path}: 'scheduler' must be a table")
    id_prefix = data.get("id_prefix", f"{path.stem}:")
    if not isinstance(id_prefix, str) or not id_prefix:
        raise CommandError(f"{path}: 'id_prefix' must be a non-empty string")
    jobs = tuple(_job_spec(path, index, entry) for index, entry in enumerate(data.get("jobs", [])))
    _check_unique_ids(path, jobs)
    return ScheduleFile(path, scheduler, id_prefix, jobs)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = _parse(path, text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise CommandError(f"{path} is not valid: {exc}") from None
    if not isinstance(document, dict):
        raise CommandError(f"{path}: expected a table (mapping) at the top")
    return document


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return json.loads(text)
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(text)
    return tomllib.loads(text)


def _parse_yaml(text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise CommandError("reading YAML needs PyYAML: pip install pyyaml") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def _job_spec(path: Path, index: int, entry: Any) -> JobSpec:
    where = f"{path}: job {index + 1}"
    if not isinstance(entry, Mapping):
        raise CommandError(f"{where} must be a table")
    for required in ("id", "func", "trigger"):
        if required not in entry:
            raise CommandError(f"{where} has no {required!r}")
    declared_id, func, trigger = entry["id"], entry["func"], entry["trigger"]
    if not isinstance(declared_id, str) or not declared_id:
        raise CommandError(f"{where}: 'id' must be a non-empty string")
    if not isinstance(func, str) or ":" not in func:
        raise CommandError(f"{where} ({declared_id}): 'func' must be a reference, module:name")
    if not isinstance(trigger, str | Mapping):
        raise CommandError(f"{where} ({declared_id}): 'trigger' must be a string or a table")
    options = {key: value for key, value in entry.items() if key not in ("id", "func", "trigger")}
    unknown = sorted(set(options) - JOB_OPTIONS)
    if unknown:
        raise CommandError(f"{where} ({declared_id}): unknown keys: {', '.join(unknown)}")
    return JobSpec(declared_id, func, trigger, options)


def _check_unique_ids(path: Path, jobs: tuple[JobSpec, ...]) -> None:
    seen: set[str] = set()
    for job in jobs:
        if job.declared_id in seen:
            raise CommandError(f"{path}: job id {job.declared_id!r} is declared twice")
        seen.add(job.declared_id)
