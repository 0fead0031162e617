"""What importing a scheduler loads: only what a scheduler needs before it runs anything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Each of these is loaded where it is used (a signed or JSON store, a shared store's run ids,
# a store's driver, an executor's pool): importing a scheduler must not pay for them.
NOT_LOADED_BY_IMPORT = (
    "hashlib",
    "hmac",
    "json",
    "socket",
    "uuid",
    "ssl",
    "asyncio",
    "concurrent.futures",
    "sqlalchemy",
    "redis",
    "pymongo",
)


@pytest.mark.parametrize(
    "module", ["apscheduler.schedulers.background", "apscheduler.schedulers.blocking"]
)
def test_importing_a_scheduler_leaves_out_what_only_some_programs_use(module):
    code = (
        f"import sys; import {module}; "
        f"loaded = sorted(set(sys.modules) & set({list(NOT_LOADED_BY_IMPORT)!r})); "
        "import json; print(json.dumps(loaded))"  # json only after the look
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert json.loads(output) == []
