"""``python -m apscheduler``: the ``apscheduler`` command."""

from __future__ import annotations

import sys

from apscheduler.cli import main

if __name__ == "__main__":
    sys.exit(main())
