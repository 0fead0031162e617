"""Module-level callables for scheduler tests: jobs that need a text reference live here."""

from __future__ import annotations

calls: list = []


def record(*args, **kwargs):
    calls.append((args, kwargs))
    return len(calls)


def fail():
    raise RuntimeError("the job failed on purpose")


failures: dict[str, int] = {}


def fail_first(key, times):
    """Fail the first ``times`` calls for ``key``, then succeed."""
    failures[key] = failures.get(key, 0) + 1
    if failures[key] <= times:
        raise ValueError(f"failure {failures[key]} of {key}")
    return failures[key]


def raise_key_error():
    raise KeyError("missing")
