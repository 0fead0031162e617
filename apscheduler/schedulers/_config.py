"""Turning the configuration users pass (flat ``apscheduler.*`` keys or nested dicts) into objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from apscheduler._run_control import CONTROL_OPTIONS, DEFAULT_CONTROL
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.runs import RetentionPolicy
from apscheduler.util import _with_note, asbool, asint, maybe_ref


def collect_options(
    gconfig: Mapping[str, Any], prefix: str | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """
    Merge a global configuration dict and keyword options into one nested dict.

    Keys of ``gconfig`` that start with ``prefix`` are kept with the prefix stripped (an empty
    prefix keeps them all); dotted keys become nested dicts, so ``job_defaults.coalesce`` and
    ``{"job_defaults": {"coalesce": ...}}`` mean the same. Keyword options win over both.
    """
    if prefix:
        prefix_length = len(prefix)
        flat = {
            key[prefix_length:]: value
            for key, value in gconfig.items()
            if isinstance(key, str) and key.startswith(prefix)
        }
    else:
        flat = dict(gconfig)

    config: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        parent = config
        for part in parts[:-1]:
            child = parent.get(part)
            if not isinstance(child, dict):
                child = parent[part] = {}
            parent = child

        leaf = parts[-1]
        if isinstance(value, Mapping) and isinstance(parent.get(leaf), dict):
            parent[leaf].update(value)
        else:
            parent[leaf] = dict(value) if isinstance(value, Mapping) else value

    config.update(options)
    return config


def parse_job_defaults(job_defaults: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return the job defaults with text values converted, as ini-style configuration gives them.

    :raises ValueError: for a value that cannot be converted (APScheduler 3's message, with the
        option named in a note)
    """
    converters = {
        "misfire_grace_time": (asint, 1),
        "coalesce": (asbool, True),
        "max_instances": (asint, 1),
    }
    parsed: dict[str, Any] = {}
    for option, (convert, default) in converters.items():
        value = job_defaults.get(option, default)
        try:
            parsed[option] = convert(value)
        except ValueError as exc:
            _with_note(exc, f"in job_defaults[{option!r}]: {value!r}")
            raise

    # the run control options: checked now, so that a bad default fails at configure()
    control = {name: job_defaults[name] for name in CONTROL_OPTIONS if name in job_defaults}
    try:
        DEFAULT_CONTROL.changed(control)
    except (TypeError, ValueError) as exc:
        _with_note(exc, "in job_defaults")
        raise
    parsed.update(control)
    return parsed


def parse_run_history(value: Any) -> RetentionPolicy:
    """
    Return the retention policy that the ``run_history`` option asks for.

    ``None`` or ``True``: the default policy; ``0`` or ``False``: no history; a number: the
    most runs kept per job; a dict: ``max_runs`` and ``max_age`` (seconds, a timedelta, or
    ``None`` for no age limit). Text values, as ini-style configuration gives them, are
    converted.

    :raises ValueError: for a value that cannot be converted, or a negative one
    :raises TypeError: for a value of another type
    """
    if value is None or isinstance(value, RetentionPolicy):
        return value or RetentionPolicy()
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.lstrip("-").isdigit() else asbool(text)
    if isinstance(value, bool):
        return RetentionPolicy() if value else RetentionPolicy(max_runs=0)
    if isinstance(value, int):
        return RetentionPolicy(max_runs=_max_runs(value))
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"max_runs", "max_age"})
        if unknown:
            raise ValueError(
                f"run_history takes max_runs and max_age, got an unknown key {unknown[0]!r}"
            )
        default = RetentionPolicy()
        max_runs = value.get("max_runs", default.max_runs)
        return RetentionPolicy(
            max_runs=_max_runs(asint(max_runs) if max_runs is not None else 0),
            max_age=_max_age(value.get("max_age", default.max_age)),
        )

    raise TypeError(
        f"run_history must be a number of runs per job, a dict with max_runs and max_age, or "
        f"False, got {value.__class__.__name__} instead"
    )


def _max_runs(value: int | None) -> int:
    if value is None or value < 0:
        raise ValueError(f"run_history max_runs must be 0 or more, got {value!r}")
    return value


def _max_age(value: Any) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        age = value
    else:
        age = timedelta(seconds=float(value))
    if age is not None and age.total_seconds() <= 0:
        raise ValueError(f"run_history max_age must be more than 0 seconds, got {value!r}")
    return age


#: how the configuration names each kind of plugin: in sentences, and its section
_KIND_WORDS = {"executor": ("executor", "executors"), "jobstore": ("job store", "jobstores")}


def build_plugin_instance(scheduler: Any, type_: str, alias: str, value: Any) -> Any:
    """
    Create an executor or job store from its configuration entry.

    The entry is either a ready instance, or a dict with ``type`` (a plugin alias, looked up with
    the scheduler's ``_create_plugin_instance()``) or ``class`` (a class, a factory, or a
    ``module:name`` reference to one) and the constructor's keyword arguments.

    :param type_: ``"executor"`` or ``"jobstore"``
    :raises ValueError: if a dict has neither ``type`` nor ``class``
    :raises TypeError: if the entry is of any other type, or ``class`` makes something that is
        not an executor / job store
    """
    base_class = BaseExecutor if type_ == "executor" else BaseJobStore
    kind, section = _KIND_WORDS[type_]
    if isinstance(value, base_class):
        return value

    if isinstance(value, Mapping):
        options = dict(value)
        plugin_class = options.pop("class", None)
        plugin = options.pop("type", None)
        if plugin:
            return scheduler._create_plugin_instance(type_, plugin, options)
        if not plugin_class:
            raise ValueError(
                f'Cannot create {kind} "{alias}" -- either "type" or "class" must be defined'
            )

        instance = maybe_ref(plugin_class)(**options)
        if not isinstance(instance, base_class):
            # the message add_executor()/add_jobstore() give APScheduler 3 for such an object
            article = "an" if kind[0] in "aeiou" else "a"
            error = TypeError(
                f"Expected {article} {kind} instance or a string, got "
                f"{instance.__class__.__name__} instead"
            )
            raise _with_note(
                error,
                f"made by the class given for {section}[{alias!r}] ({plugin_class!r}), which "
                f"is not a subclass of {base_class.__name__}",
            )

        return instance

    raise TypeError(
        f"Expected {kind} instance or dict for {section}['{alias}'], got "
        f"{value.__class__.__name__} instead"
    )
