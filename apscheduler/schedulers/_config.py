"""Turning the configuration users pass (flat ``apscheduler.*`` keys or nested dicts) into objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apscheduler.schedulers._plugins import PluginRegistry
from apscheduler.util import asbool, asint, maybe_ref


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

    :raises ValueError: for a value that cannot be converted, naming the option
    """
    try:
        misfire_grace_time = asint(job_defaults.get("misfire_grace_time", 1))
        coalesce = asbool(job_defaults.get("coalesce", True))
        max_instances = asint(job_defaults.get("max_instances", 1))
    except ValueError as exc:
        raise ValueError(f"Invalid value in job_defaults {dict(job_defaults)!r}: {exc}") from None

    return {
        "misfire_grace_time": misfire_grace_time,
        "coalesce": coalesce,
        "max_instances": max_instances,
    }


def build_plugin_instance(
    alias: str, value: Any, registry: PluginRegistry, base_class: type
) -> Any:
    """
    Create an executor or job store from its configuration entry.

    The entry is either a ready instance, or a dict with ``type`` (a plugin alias) or ``class``
    (a class or ``module:Class`` reference) and the constructor's keyword arguments.

    :raises ValueError: if a dict has neither ``type`` nor ``class``
    :raises TypeError: if the entry is of any other type
    """
    if isinstance(value, base_class):
        return value

    if isinstance(value, Mapping):
        options = dict(value)
        if "class" in options:
            plugin_class = maybe_ref(options.pop("class"))
            if not (isinstance(plugin_class, type) and issubclass(plugin_class, base_class)):
                raise TypeError(
                    f"The class given for {registry.kind} {alias!r} ({plugin_class!r}) is not a "
                    f"subclass of {base_class.__name__}"
                )
            options.pop("type", None)
        elif "type" in options:
            plugin_class = registry.get(options.pop("type"))
        else:
            raise ValueError(
                f'Cannot create {registry.kind} "{alias}" -- either "type" or "class" must be '
                f"defined"
            )

        return plugin_class(**options)

    raise TypeError(
        f'Expected {registry.kind} instance or dict for {registry.kind} "{alias}", got '
        f"{value.__class__.__name__} instead"
    )
