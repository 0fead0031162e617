"""The scheduler's executors, event listeners and plugins: adding, removing, finding them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from logging import Logger
from typing import TYPE_CHECKING, Any, cast

from apscheduler.events import (
    EVENT_ALL,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    SchedulerEvent,
)
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.schedulers import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import _with_note

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

# the kinds of plugin by their name in _create_plugin_instance(): the attribute holding the
# alias -> entry point mapping, the one holding the alias -> class dict, and the base class
_PLUGIN_KINDS: dict[str, tuple[str, str, type]] = {
    "trigger": ("_trigger_plugins", "_trigger_classes", BaseTrigger),
    "jobstore": ("_jobstore_plugins", "_jobstore_classes", BaseJobStore),
    "executor": ("_executor_plugins", "_executor_classes", BaseExecutor),
}


class ComponentsAPI:
    """Mixed into :class:`~apscheduler.schedulers.base.BaseScheduler`; documented there."""

    # Set or implemented by BaseScheduler; declared here for readers and type checkers. This
    # class is only mixed into BaseScheduler, so ``cast("BaseScheduler", self)`` is safe.
    state: int
    _logger: Logger
    _executors: dict[str, BaseExecutor]
    _executors_lock: AbstractContextManager[Any, None]
    _listeners: list[tuple[Callable[[SchedulerEvent], Any], int]]
    _listeners_lock: AbstractContextManager[Any, None]

    def add_executor(
        self, executor: BaseExecutor | str, alias: str = "default", **executor_opts: Any
    ) -> None:
        """
        Adds an executor to this scheduler.

        Any extra keyword arguments will be passed to the executor plugin's constructor, assuming
        that the first argument is the name of an executor plugin.

        :param str|unicode|apscheduler.executors.base.BaseExecutor executor: either an executor
            instance or the name of an executor plugin
        :param str|unicode alias: alias for the scheduler
        :raises ValueError: if there is already an executor by the given alias
        """
        with self._executors_lock:
            if alias in self._executors:
                raise ValueError(
                    f'This scheduler already has an executor by the alias of "{alias}"'
                )

            if isinstance(executor, BaseExecutor):
                self._executors[alias] = executor
            elif isinstance(executor, str):
                self._executors[alias] = self._create_plugin_instance(
                    "executor", executor, executor_opts
                )
            else:
                raise TypeError(
                    f"Expected an executor instance or a string, got "
                    f"{executor.__class__.__name__} instead"
                )

            # Start the executor right away if the scheduler is running
            if self.state != STATE_STOPPED:
                self._executors[alias].start(cast("BaseScheduler", self), alias)

        self._dispatch_event(SchedulerEvent(EVENT_EXECUTOR_ADDED, alias))

    def remove_executor(self, alias: str, shutdown: bool = True) -> None:
        """
        Removes the executor by the given alias from this scheduler.

        :param str|unicode alias: alias of the executor
        :param bool shutdown: ``True`` to shut down the executor after
            removing it
        :raises KeyError: if there is no executor by that alias
        """
        with self._executors_lock:
            executor = self._lookup_executor(alias)
            del self._executors[alias]

        if shutdown:
            executor.shutdown()

        self._dispatch_event(SchedulerEvent(EVENT_EXECUTOR_REMOVED, alias))

    def add_listener(
        self, callback: Callable[[SchedulerEvent], Any], mask: int = EVENT_ALL
    ) -> None:
        """
        add_listener(callback, mask=EVENT_ALL)

        Adds a listener for scheduler events.

        When a matching event  occurs, ``callback`` is executed with the event object as its
        sole argument. If the ``mask`` parameter is not provided, the callback will receive
        events of all types.

        :param callback: any callable that takes one argument
        :param int mask: bitmask that indicates which events should be
            listened to

        .. seealso:: :mod:`apscheduler.events`
        .. seealso:: :ref:`scheduler-events`
        """
        with self._listeners_lock:
            self._listeners.append((callback, mask))

    def remove_listener(self, callback: Callable[[SchedulerEvent], Any]) -> None:
        """Removes a previously added event listener."""
        with self._listeners_lock:
            for i, (cb, _) in enumerate(self._listeners):
                if callback == cb:
                    del self._listeners[i]

    def _create_plugin_instance(
        self, type_: str, alias: str, constructor_kwargs: dict[str, Any]
    ) -> Any:
        """
        Create a trigger, job store or executor from its alias, loading its class if needed.

        The class is looked up in ``_<type>_classes`` first; an alias not there is loaded from
        its entry point in ``_<type>_plugins`` and the class is kept in ``_<type>_classes``, so
        the entry point is loaded once.

        :param type_: ``"trigger"``, ``"jobstore"`` or ``"executor"``
        :raises LookupError: if no class or entry point has that alias
        :raises TypeError: if the entry point loads something other than a subclass of the
            kind's base class
        """
        classes: dict[str, Any] = getattr(self, _PLUGIN_KINDS[type_][1])
        plugin_class = classes.get(alias)
        if plugin_class is None:
            plugin_class = classes[alias] = self._load_plugin(type_, alias)

        return plugin_class(**constructor_kwargs)

    def _load_plugin(self, type_: str, alias: str) -> type:
        plugins_attr, classes_attr, base_class = _PLUGIN_KINDS[type_]
        plugins: Mapping[str, Any] = getattr(self, plugins_attr)
        if alias not in plugins:
            known = sorted({*plugins, *getattr(self, classes_attr)})
            error: Exception = LookupError(f'No {type_} by the name "{alias}" was found')
            raise _with_note(error, f"known {type_} aliases: {', '.join(known) or 'none'}")

        entry_point = plugins[alias]
        plugin = entry_point.load()
        if not (isinstance(plugin, type) and issubclass(plugin, base_class)):
            error = TypeError(f"The {type_} entry point does not point to a {type_} class")
            target = getattr(entry_point, "value", None)
            if not isinstance(target, str):  # an entry point stand-in without a target text
                target = repr(entry_point)
            raise _with_note(
                error,
                f"the {type_} alias {alias!r} ({target}) loads {plugin!r}, which is not a "
                f"subclass of {base_class.__name__}",
            )

        return plugin

    def _lookup_executor(self, alias: str) -> BaseExecutor:
        """
        Returns the executor instance by the given name from the list of executors that were
        added to this scheduler.

        :type alias: str
        :raises KeyError: if no executor by the given alias is not found
        """
        try:
            return self._executors[alias]
        except KeyError:
            raise KeyError(f"No such executor: {alias}") from None

    def _dispatch_event(self, event: SchedulerEvent) -> None:
        """
        Dispatches the given event to interested listeners.

        :param SchedulerEvent event: the event to send
        """
        if not self._listeners:
            return

        with self._listeners_lock:
            listeners = tuple(self._listeners)

        for callback, mask in listeners:
            if event.code & mask:
                try:
                    callback(event)
                except BaseException:
                    self._logger.exception("Error notifying listener")
