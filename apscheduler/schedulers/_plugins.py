"""
Finding trigger, executor and job store classes by alias, the way APScheduler 3 does.

The scheduler class holds, for each kind, a dict of alias -> class (``_trigger_classes``,
consulted first, and where loaded plugins are cached) and a mapping of alias -> entry point
(``_trigger_plugins``). The entry point mappings are read on first use rather than when the
scheduler module is imported, which keeps that import cheap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

TRIGGERS = "apscheduler.triggers"
EXECUTORS = "apscheduler.executors"
JOBSTORES = "apscheduler.jobstores"


class EntryPoints(Mapping[str, "EntryPoint"]):
    """
    The entry points of one group by name: APScheduler 3's ``_trigger_plugins`` dict, built lazily.

    The group is read the first time the mapping is used. An alias that is not in it makes the
    mapping read the group once more, so a plugin distribution installed while the program runs
    is found; known aliases never cost a read.
    """

    def __init__(self, group: str) -> None:
        self.group = group
        self._entry_points: dict[str, EntryPoint] | None = None

    def _read(self) -> dict[str, EntryPoint]:
        # importlib.metadata is slow to import (it brings in the email package); only a
        # program that asks for a plugin by its alias pays for it
        from importlib.metadata import entry_points

        self._entry_points = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._entry_points

    def _with(self, alias: object) -> dict[str, EntryPoint]:
        """The entry points, read again if ``alias`` is not among those read before."""
        entry_points = self._entry_points
        if entry_points is None or alias not in entry_points:
            entry_points = self._read()

        return entry_points

    def __getitem__(self, alias: str) -> EntryPoint:
        return self._with(alias)[alias]

    def __contains__(self, alias: object) -> bool:
        return alias in self._with(alias)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entry_points if self._entry_points is not None else self._read())

    def __len__(self) -> int:
        return len(self._entry_points if self._entry_points is not None else self._read())

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.group!r})"
