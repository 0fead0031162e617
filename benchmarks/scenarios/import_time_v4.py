"""
Scenario, APScheduler 4.0 variant: the time a fresh interpreter takes to import its
thread-based scheduler (``from apscheduler import Scheduler``, the counterpart of 3.x's
``BackgroundScheduler``).

As in ``import_time.py``, nothing is imported before the measured import, and the runner
compiles the package to bytecode first, as it does for the other sides.
"""

from __future__ import annotations

import time

started = time.perf_counter()
from apscheduler import Scheduler  # noqa: E402,F401  (the import being measured)

elapsed = time.perf_counter() - started

import sys  # noqa: E402

sys.path.insert(0, __file__.rpartition("/")[0] or ".")
from _common import emit  # noqa: E402

emit({"import_ms": elapsed * 1000, "modules_loaded": len(sys.modules)})
