"""Finding trigger, executor and job store classes by the aliases their distributions register."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

TRIGGERS = "apscheduler.triggers"
EXECUTORS = "apscheduler.executors"
JOBSTORES = "apscheduler.jobstores"


class PluginRegistry:
    """
    Resolves aliases in one entry point group, loading each plugin only when first asked for.

    Entry points are read on first use rather than at import, which keeps importing a scheduler
    cheap; an alias that is not known yet triggers one re-read, so a plugin installed while the
    program runs is still found.
    """

    def __init__(self, group: str, base_class: type, kind: str) -> None:
        self.group = group
        self.kind = kind
        self.base_class = base_class
        self._entry_points: dict[str, EntryPoint] | None = None
        self._classes: dict[str, type] = {}
        self._lock = threading.Lock()

    def _read_entry_points(self) -> dict[str, EntryPoint]:
        # importlib.metadata is slow to import (it brings in the email package); only a
        # program that asks for a plugin by its alias pays for it
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=self.group)}

    def aliases(self) -> list[str]:
        """Return every alias registered in this group, sorted."""
        with self._lock:
            if self._entry_points is None:
                self._entry_points = self._read_entry_points()
            return sorted(self._entry_points)

    def get(self, alias: str) -> type:
        """
        Return the class registered as ``alias``.

        :raises LookupError: if no installed distribution registers that alias
        :raises TypeError: if the alias refers to something that is not a subclass of the
            group's base class
        """
        plugin_class = self._classes.get(alias)
        if plugin_class is not None:
            return plugin_class

        with self._lock:
            if self._entry_points is None or alias not in self._entry_points:
                self._entry_points = self._read_entry_points()

            entry_point = self._entry_points.get(alias)
            if entry_point is None:
                known = ", ".join(sorted(self._entry_points)) or "none"
                raise LookupError(
                    f'No {self.kind} by the name "{alias}" was found (installed: {known})'
                )

            plugin: Any = entry_point.load()

        if not (isinstance(plugin, type) and issubclass(plugin, self.base_class)):
            raise TypeError(
                f"The {self.group} plugin {alias!r} ({entry_point.value}) is not a subclass of "
                f"{self.base_class.__name__}"
            )

        self._classes[alias] = plugin
        return plugin
