"""
Scenario: the time a fresh interpreter takes to ``import apscheduler.schedulers.background``.

Nothing is imported before the measured import (the timer comes from ``time``, which the
interpreter has already loaded), so modules the library needs count against it. Run with
``python -X importtime`` to see where the time goes; the runner does so once per side.
"""

from __future__ import annotations

import time

started = time.perf_counter()
import apscheduler.schedulers.background  # noqa: E402,F401  (the import being measured)

elapsed = time.perf_counter() - started

import sys  # noqa: E402

sys.path.insert(0, __file__.rpartition("/")[0] or ".")
from _common import emit  # noqa: E402

emit({"import_ms": elapsed * 1000, "modules_loaded": len(sys.modules)})
