"""
gunicorn settings for ``app.py``: four workers, each with a scheduler of its own.

The scheduler starts after the fork, in each worker: a scheduler's threads and database
connections do not survive a fork, so it must not start in gunicorn's master process (hence
no ``preload_app`` with a scheduler started at import time).
"""

from __future__ import annotations

bind = "127.0.0.1:8000"
workers = 4


def post_fork(server, worker):
    from app import start_scheduler

    start_scheduler()


def worker_exit(server, worker):
    from app import stop_scheduler

    stop_scheduler()
