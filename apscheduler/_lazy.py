"""Module-level names that are imported on first use, for modules that must import quickly."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(
    module_name: str, names: Mapping[str, tuple[str, str | None]]
) -> Callable[..., Any]:
    """
    Return a module ``__getattr__`` (PEP 562) that imports each of ``names`` when first asked.

    APScheduler 3 imported these names at the top of the module, and programs import them from
    there or patch them there; importing them eagerly would make every program pay for modules
    it may never use. The first lookup stores the real object in the module, so later lookups,
    ``monkeypatch.setattr`` and ``unittest.mock.patch`` treat it as any other global.

    :param module_name: ``__name__`` of the module
    :param names: name -> (module to import, attribute of it, or ``None`` for the module itself)
    """

    def __getattr__(name: str) -> Any:
        try:
            source, attribute = names[name]
        except KeyError:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None

        value = import_module(source)
        if attribute is not None:
            value = getattr(value, attribute)

        setattr(sys.modules[module_name], name, value)
        return value

    return __getattr__
