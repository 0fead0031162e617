"""
Importing a flavour without its framework raises APScheduler 3's ImportError, with a note that
says which extra to install.
"""

from __future__ import annotations

import pytest

from tests.schedulers.flavours.conftest import import_afresh


@pytest.mark.parametrize(
    "module_name, hidden, message, note",
    [
        pytest.param(
            "apscheduler.schedulers.gevent",
            ["gevent"],
            "GeventScheduler requires gevent installed",
            "pip install APScheduler[gevent]",
            id="gevent scheduler",
        ),
        pytest.param(
            "apscheduler.executors.gevent",
            ["gevent"],
            "GeventExecutor requires gevent installed",
            "pip install APScheduler[gevent]",
            id="gevent executor",
        ),
        pytest.param(
            "apscheduler.schedulers.tornado",
            ["tornado"],
            "TornadoScheduler requires tornado installed",
            "pip install APScheduler[tornado]",
            id="tornado scheduler",
        ),
        pytest.param(
            "apscheduler.executors.tornado",
            ["tornado"],
            "TornadoExecutor requires tornado installed",
            "pip install APScheduler[tornado]",
            id="tornado executor",
        ),
        pytest.param(
            "apscheduler.schedulers.twisted",
            ["twisted"],
            "TwistedScheduler requires Twisted installed",
            "pip install APScheduler[twisted]",
            id="twisted scheduler",
        ),
        pytest.param(
            "apscheduler.executors.twisted",
            ["twisted"],
            "TwistedExecutor requires Twisted installed",
            "pip install APScheduler[twisted]",
            id="twisted executor",
        ),
        pytest.param(
            "apscheduler.schedulers.qt",
            ["PySide6", "PyQt6", "PySide2", "PyQt5"],
            "QtScheduler requires either PySide/PyQt (v6 to v2) installed",
            "looked for PySide6, PyQt6, PySide2 and PyQt5: pip install APScheduler[qt]",
            id="qt scheduler",
        ),
    ],
)
def test_a_missing_framework_names_the_extra_to_install(
    monkeypatch, module_name, hidden, message, note
):
    with pytest.raises(ImportError) as caught:
        import_afresh(monkeypatch, module_name, hidden)

    # the message is APScheduler 3's, which programs compare; the fix is in a note
    assert str(caught.value) == message
    assert caught.value.__notes__ == [note]
