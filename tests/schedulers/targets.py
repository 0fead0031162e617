"""Module-level callables for scheduler tests: jobs that need a text reference live here."""

from __future__ import annotations

calls: list = []


def record(*args, **kwargs):
    calls.append((args, kwargs))
    return len(calls)


def fail():
    raise RuntimeError("the job failed on purpose")
