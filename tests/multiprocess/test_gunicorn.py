"""The gunicorn example: four workers, one scheduler each, one PostgreSQL store."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from tests.servers import free_port
from tests.services import require_module

from .harness import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "gunicorn"
RUN_LINE = re.compile(r"ran (\S+) scheduled (\S+) in worker (\d+)")
RUN_FOR = 6.0

pytestmark = pytest.mark.external_service


@pytest.fixture
def jobs_table(postgres_url):
    require_module("psycopg")
    require_module("gunicorn")
    table = f"gunicorn_{uuid4().hex[:12]}"
    yield table
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(postgres_url, tablename=table)
    store.jobs_t.drop(store.engine, checkfirst=True)
    store.shutdown()


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def test_four_gunicorn_workers_run_each_fire_time_once(postgres_url, jobs_table, tmp_path):
    port = free_port()
    # HOME: where gunicorn puts its control socket
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "JOBS_TABLE": jobs_table,
        "HOME": str(tmp_path),
    }
    output = tmp_path / "gunicorn.out"
    with open(output, "wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-w", "4",
             "-b", f"127.0.0.1:{port}", "app:application"],
            cwd=EXAMPLE, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert b'"heartbeat"' in get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert server.poll() is None, output.read_text()
                assert time.monotonic() < deadline, output.read_text()
                time.sleep(0.1)
        time.sleep(RUN_FOR)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    log = output.read_text()
    runs = [
        (job_id, datetime.fromisoformat(run_time), int(pid))
        for job_id, run_time, pid in RUN_LINE.findall(log)
    ]
    heartbeats = sorted(run_time for job_id, run_time, _ in runs if job_id == "heartbeat")
    assert len(heartbeats) >= RUN_FOR - 1, log
    twice = [run_time for run_time, count in Counter(heartbeats).items() if count > 1]
    assert twice == [], f"fire times run twice: {twice}"
    steps = {later - earlier for earlier, later in itertools.pairwise(heartbeats)}
    assert steps == {timedelta(seconds=1)}, f"fire times were skipped: {heartbeats}"
    assert server.returncode == 0, log
