"""Turning the configuration users pass (flat ``apscheduler.*`` keys or nested dicts) into objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import BaseJobStore
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

    return parsed


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
