"""What jobs remember about the functions they call: results must match a fresh look every time."""

from __future__ import annotations

import gc
import weakref

import pytest

from apscheduler import _callables
from apscheduler._callables import inspect_call


def report(title: str, pages: int) -> str:
    return f"{title}: {pages}"


def test_a_plain_function_gets_its_reference_and_name():
    assert inspect_call(report, ("weekly", 3), {}) == (f"{__name__}:report", "report")


def test_a_call_shape_that_passed_once_is_still_checked_for_other_shapes():
    inspect_call(report, ("weekly", 3), {})

    with pytest.raises(ValueError, match="have not been supplied: pages"):
        inspect_call(report, ("weekly",), {})


def test_a_rejected_call_shape_is_rejected_again():
    def nightly(when):
        return when

    for _ in range(2):
        with pytest.raises(ValueError, match="does not accept the following keyword arguments"):
            inspect_call(nightly, (), {"when": 1, "extra": 2})


def test_new_defaults_on_a_function_are_seen_by_the_next_check():
    def rotate(logs, keep):
        return logs, keep

    with pytest.raises(ValueError, match="keep"):
        inspect_call(rotate, ("app",), {})

    rotate.__defaults__ = (7,)
    inspect_call(rotate, ("app",), {})
    rotate.__defaults__ = None

    with pytest.raises(ValueError, match="keep"):
        inspect_call(rotate, ("app",), {})


def test_a_renamed_function_gets_its_new_name():
    def cleanup():
        pass

    inspect_call(cleanup, (), {})
    cleanup.__qualname__ = "renamed_cleanup"

    assert inspect_call(cleanup, (), {})[1] == "renamed_cleanup"


def test_lambdas_and_nested_functions_have_no_reference():
    def nested():
        pass

    assert inspect_call(lambda: None, (), {})[0] is None
    assert inspect_call(nested, (), {})[0] is None


def test_remembering_a_function_does_not_keep_it_alive():
    def short_lived():
        pass

    inspect_call(short_lived, (), {})
    watcher = weakref.ref(short_lived)
    key = id(short_lived)
    del short_lived
    gc.collect()

    assert watcher() is None
    assert key not in _callables._facts


class Printer:
    def __call__(self, text: str) -> None:
        pass

    def print_page(self, text: str) -> None:
        pass


@pytest.mark.parametrize(
    "func, name",
    [(print, "print"), (Printer(), "Printer"), (Printer().print_page, "Printer.print_page")],
    ids=["builtin", "callable instance", "bound method"],
)
def test_other_callables_are_described_without_the_cache(func, name):
    assert inspect_call(func, ("x",), {})[1] == name
    assert id(func) not in _callables._facts
