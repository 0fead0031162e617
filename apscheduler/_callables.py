"""
What a job needs to know about its callable (text reference, display name, accepted call
shapes), remembered per function.

Programs often schedule the same function thousands of times. Working out its reference and
reading its signature each time costs more than the rest of adding the job, and the answers
depend only on the function, so they are kept per function object. The cache holds only weak
references: it never keeps a function alive, and a function's entry goes when it does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import FunctionType
from typing import Any
from weakref import ref as weak_ref

from apscheduler.util import check_callable_args, get_callable_name, obj_to_ref

# Beyond this many (number of args, keyword names) shapes, a function's shapes are forgotten
# and checked afresh; the set stays small for a program that calls with ever-changing kwargs.
_MAX_SHAPES = 32


class _FunctionFacts:
    __slots__ = (
        "function",
        "code",
        "defaults",
        "kwdefaults",
        "module",
        "qualname",
        "ref",
        "name",
        "accepted_shapes",
    )

    def __init__(self, func: FunctionType) -> None:
        # a weak reference whose callback drops the entry once the function is gone, before
        # its id can be reused by another object
        self.function = weak_ref(func, _forget_entry(id(func)))
        # Everything the reference, the name and the signature are read from: a function
        # whose code, defaults or names are reassigned afterwards is looked at again.
        self.code = func.__code__
        self.defaults = func.__defaults__
        self.kwdefaults = func.__kwdefaults__
        self.module = func.__module__
        self.qualname = func.__qualname__
        try:
            self.ref: str | None = obj_to_ref(func)
        except ValueError:
            # lambdas and nested functions have no reference; in-memory jobs still run them
            self.ref = None
        self.name = get_callable_name(func)
        self.accepted_shapes: set[tuple[int, frozenset[str]]] = set()

    def still_match(self, func: FunctionType) -> bool:
        """Tell whether these facts are still those of ``func``."""
        return (
            self.function() is func
            and self.code is func.__code__
            and self.defaults is func.__defaults__
            and self.kwdefaults is func.__kwdefaults__
            and self.module is func.__module__
            and self.qualname is func.__qualname__
        )


def _forget_entry(key: int) -> Callable[[Any], object]:
    return lambda _: _facts.pop(key, None)


# id(function) -> facts; plain dict lookups keep the common case (a cache hit) cheap
_facts: dict[int, _FunctionFacts] = {}


def _facts_for(func: Callable[..., Any]) -> _FunctionFacts | None:
    """Return the cached facts of a plain function, computing them once; ``None`` for others."""
    # Bound methods are new objects on every attribute access, and partials and callable
    # instances can change, so only plain functions are cached. A function given its own
    # __signature__ is left out too: that attribute can change without a trace.
    if type(func) is not FunctionType or "__signature__" in func.__dict__:
        return None

    facts = _facts.get(id(func))
    if facts is None or not facts.still_match(func):
        facts = _FunctionFacts(func)
        _facts[id(func)] = facts

    return facts


def inspect_call(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[str | None, str]:
    """
    Check that ``func`` accepts ``args`` and ``kwargs``, and return its text reference
    (``None`` if it has none) and its display name.

    Whether a call fits the signature depends only on the number of positional arguments and
    the names of the keyword arguments, so for a plain function one successful check covers
    every later call of the same shape.

    :raises ValueError: naming every argument problem found
    :raises TypeError: if no name can be determined for ``func``
    """
    facts = _facts_for(func)
    if facts is None:
        try:
            ref: str | None = obj_to_ref(func)
        except ValueError:
            ref = None

        name = get_callable_name(func)
        check_callable_args(func, args, kwargs)
        return ref, name

    shape = (len(args), frozenset(kwargs))
    if shape not in facts.accepted_shapes:
        check_callable_args(func, args, kwargs)
        if len(facts.accepted_shapes) >= _MAX_SHAPES:
            facts.accepted_shapes.clear()
        facts.accepted_shapes.add(shape)

    return facts.ref, facts.name
