"""ref_to_obj takes imported modules from sys.modules and imports the rest."""

from __future__ import annotations

import sys
import types

import pytest

from apscheduler.util import ref_to_obj


def test_a_reference_into_an_imported_module_resolves(monkeypatch):
    module = types.ModuleType("refs_target_imported")
    module.value = object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "refs_target_imported", module)

    assert ref_to_obj("refs_target_imported:value") is module.value  # type: ignore[attr-defined]


def test_a_module_blocked_in_sys_modules_is_a_lookup_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "refs_target_blocked", None)

    with pytest.raises(LookupError, match="could not import module"):
        ref_to_obj("refs_target_blocked:value")


def test_a_module_still_initialising_is_imported_through_the_import_system(monkeypatch):
    half_done = types.ModuleType("refs_target_half")
    half_done.__spec__ = types.SimpleNamespace(_initializing=True)  # type: ignore[assignment]
    finished = types.ModuleType("refs_target_half")
    finished.value = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "refs_target_half", half_done)
    monkeypatch.setattr("apscheduler.util.import_module", lambda name: finished)

    assert ref_to_obj("refs_target_half:value") == 42


def test_a_missing_name_in_an_imported_module_is_a_lookup_error():
    with pytest.raises(LookupError, match="error looking up object"):
        ref_to_obj("os.path:no_such_name")
