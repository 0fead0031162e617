"""The apscheduler command: what a user sees (exit codes, output lines) and the store's state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import pytest

from apscheduler.cli import main
from apscheduler.client import SchedulerClient

pytest.importorskip("sqlalchemy")
ROOT = Path(__file__).parent.parent.parent


@pytest.fixture
def cli(capsys):
    """Run the command in this process: its exit code, output lines and error text."""

    def run(*argv: str) -> tuple[int, list[str], str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out.splitlines(), captured.err

    return run


@pytest.fixture
def sqlite_url(tmp_path):
    """A store holding two jobs, as a scheduler running on it would have left them."""
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    with SchedulerClient(jobstores={"default": {"type": "sqlalchemy", "url": url}}) as client:
        add_jobs(client)
    return url


def add_jobs(client: SchedulerClient) -> None:
    scheduler = client.scheduler
    scheduler.start(paused=True)
    scheduler.add_job(
        "builtins:print", "cron", hour=3, day_of_week="mon-fri", id="nightly", timezone="UTC"
    )
    scheduler.add_job("builtins:print", "interval", hours=2, id="often")
    scheduler.shutdown()


def stored_next_run_time(url: str, job_id: str):
    with SchedulerClient(jobstores={"default": {"type": "sqlalchemy", "url": url}}) as client:
        job = client.get_job(job_id)
        return "missing" if job is None else job.next_run_time


# ----- next


def test_next_marks_the_change_to_summer_time(cli):
    code, out, _ = cli("next", "0 3 * * mon-fri", "-z", "Europe/Berlin", "--from", "2026-03-26")

    assert code == 0
    assert out[0] == "Trigger: at 03:00 on Monday to Friday (Europe/Berlin)"
    assert out[2:5] == [
        "  2026-03-26 03:00:00 CET (+01:00)",
        "  2026-03-27 03:00:00 CET (+01:00)",
        "  2026-03-30 03:00:00 CEST (+02:00)  <- UTC offset changes: +01:00 -> +02:00",
    ]
    assert len(out) == 12


def test_next_marks_a_time_the_clocks_pass_twice(cli):
    code, out, _ = cli(
        "next",
        "cron",
        "hour=2",
        "minute=30",
        "-z",
        "Europe/Berlin",
        "--from",
        "2026-10-24",
        "-n",
        "3",
    )

    assert code == 0
    assert out[2:] == [
        "  2026-10-24 02:30:00 CEST (+02:00)",
        "  2026-10-25 02:30:00 CEST (+02:00)  <- this wall time happens twice (clocks go back)",
        "  2026-10-26 02:30:00 CET (+01:00)  <- UTC offset changes: +02:00 -> +01:00",
    ]


def test_next_interval_in_json_counts_from_the_time_given(cli):
    code, out, _ = cli(
        "next",
        "interval",
        "hours=2",
        "-z",
        "UTC",
        "--from",
        "2026-01-01 00:00",
        "-n",
        "2",
        "--json",
    )

    assert code == 0
    document = json.loads("\n".join(out))
    assert [entry["time"] for entry in document["fire_times"]] == [
        "2026-01-01T02:00:00+00:00",
        "2026-01-01T04:00:00+00:00",
    ]


def test_next_of_a_trigger_that_never_fires_again_exits_1(cli):
    code, out, _ = cli("next", "date", "run_date=2020-01-01", "-z", "UTC", "--from", "2026-01-01")

    assert code == 1
    assert out[-1] == "It never fires again."


@pytest.mark.parametrize(
    "expression, message",
    [
        (["every", "day"], "cannot read the trigger 'every day'"),
        (["cron", "hour=99"], "bad arguments for the cron trigger"),
        (["61 * * * *"], "bad crontab line"),
    ],
)
def test_next_with_a_bad_expression_exits_2(cli, expression, message):
    code, out, err = cli("next", *expression)

    assert code == 2
    assert out == []
    assert message in err
    assert "Traceback" not in err


# ----- jobs


def test_jobs_lists_the_jobs_of_the_store(cli, sqlite_url):
    code, out, _ = cli("jobs", "--store", sqlite_url)

    # Which job comes first depends on the hour the test runs at (between 01:00 and 03:00 UTC on
    # a weekday the nightly job is the sooner one), so the order expected is the stored one.
    soonest_first = sorted(
        ["often", "nightly"], key=lambda job_id: stored_next_run_time(sqlite_url, job_id)
    )
    assert code == 0
    assert out[0].split() == ["ID", "STORE", "NEXT", "RUN", "SCHEDULE"]
    assert [line.split()[0] for line in out[1:]] == soonest_first
    nightly_line = out[1 + soonest_first.index("nightly")]
    assert nightly_line.endswith("at 03:00 on Monday to Friday (UTC)")


def test_pause_and_resume_change_the_stored_job(cli, sqlite_url):
    assert cli("jobs", "pause", "nightly", "--store", sqlite_url)[:2] == (
        0,
        ["Paused job nightly."],
    )
    assert stored_next_run_time(sqlite_url, "nightly") is None
    assert "paused" in cli("jobs", "--store", sqlite_url)[1][2]

    code, out, _ = cli("jobs", "--store", sqlite_url, "resume", "nightly")

    assert code == 0
    assert out[0].startswith("Resumed job nightly; it next runs at ")
    assert stored_next_run_time(sqlite_url, "nightly") is not None


def test_remove_takes_the_job_out_of_the_store(cli, sqlite_url):
    assert cli("jobs", "-s", sqlite_url, "remove", "often")[:2] == (0, ["Removed job often."])
    assert stored_next_run_time(sqlite_url, "often") == "missing"


def test_show_in_json(cli, sqlite_url):
    code, out, _ = cli("jobs", "-s", sqlite_url, "show", "nightly", "--json")

    assert code == 0
    details = json.loads("\n".join(out))
    assert details["trigger"] == "cron[day_of_week='mon-fri', hour='3']"
    assert details["func"] == "builtins:print"


def test_run_asks_for_a_pending_run(cli, sqlite_url):
    code, out, _ = cli("jobs", "-s", sqlite_url, "run", "often")

    assert code == 0
    assert out[0].startswith("Asked for a run of job often now")
    assert out[0].endswith(": pending.")
    code, out, _ = cli("jobs", "-s", sqlite_url, "runs", "often")
    assert code == 0
    assert out[0].startswith("often  ") and ": pending" in out[0]


def test_explain_says_why(cli, sqlite_url):
    code, out, _ = cli("jobs", "-s", sqlite_url, "explain", "nightly", "--at", "2026-03-02 03:00")

    assert code == 0
    assert out[0] == "Job \"print\" (id nightly) in job store 'default': scheduled"
    assert out[-1].startswith("  At 2026-03-02 03:00:00 UTC: ")


def test_nothing_to_show_exits_1(cli, sqlite_url):
    assert cli("jobs", "-s", sqlite_url, "runs")[:2] == (1, ["No runs recorded."])
    assert cli("jobs", "-s", sqlite_url, "unloadable")[:2] == (
        1,
        ["Every stored job can be loaded."],
    )


@pytest.mark.parametrize("action", ["show", "pause", "resume", "run", "remove", "explain"])
def test_an_unknown_job_exits_1(cli, sqlite_url, action):
    code, out, err = cli("jobs", "-s", sqlite_url, action, "nope")

    assert code == 1
    assert err == "apscheduler: error: no job with the id 'nope'\n"


@pytest.mark.parametrize(
    "url, message",
    [
        ("jobs.sqlite", "not a store URL: 'jobs.sqlite'"),
        ("sqlite:////nowhere/jobs.sqlite", "no SQLite database at '/nowhere/jobs.sqlite'"),
        ("redis://127.0.0.1:1/0", "the job store did not answer: ConnectionError"),
        ("redis://127.0.0.1/x", "the path must be a database number"),
    ],
)
def test_a_bad_or_unreachable_store_exits_3(cli, url, message):
    code, out, err = cli("jobs", "--store", url)

    assert code == 3
    assert out == []
    assert message in err
    assert "Traceback" not in err


def test_jobs_without_a_store_is_a_usage_error(cli, monkeypatch):
    monkeypatch.delenv("APSCHEDULER_STORE", raising=False)
    code, _, err = cli("jobs")

    assert code == 2
    assert "--store URL or --config FILE" in err


@pytest.mark.external_service
def test_jobs_on_redis(cli, redis_url):
    key = f"cli-{uuid4().hex}"
    options = ["-o", f"jobs_key={key}.jobs", "-o", f"run_times_key={key}.run_times"]
    with SchedulerClient(
        jobstores={"default": {"type": "redis", **redis_store(redis_url, key)}}
    ) as client:
        add_jobs(client)

    assert cli("jobs", "-s", redis_url, *options, "pause", "often")[0] == 0
    code, out, _ = cli("jobs", "-s", redis_url, *options)

    assert code == 0
    rows = {line.split()[0]: line.split()[2] for line in out[1:]}
    assert rows["often"] == "paused"
    assert rows["nightly"] != "paused"


def redis_store(redis_url: str, key: str) -> dict:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    return {
        "host": parts.hostname,
        "port": parts.port,
        "db": int(parts.path.strip("/") or 0),
        "jobs_key": f"{key}.jobs",
        "run_times_key": f"{key}.run_times",
    }


@pytest.mark.external_service
def test_jobs_on_postgresql(cli, postgres_url):
    table = f"cli_{uuid4().hex}"
    with SchedulerClient(
        jobstores={"default": {"type": "sqlalchemy", "url": postgres_url, "tablename": table}}
    ) as client:
        add_jobs(client)

    assert cli("jobs", "-s", postgres_url, "-o", f"tablename={table}", "remove", "often")[0] == 0
    code, out, _ = cli("jobs", "-s", postgres_url, "-o", f"tablename={table}", "--json")

    assert code == 0
    assert [job["id"] for job in json.loads("\n".join(out))] == ["nightly"]


# ----- run, through the real command


def write_schedule(path: Path, jobs: str) -> Path:
    path.write_text(
        f"""
id_prefix = "file:"
[scheduler]
timezone = "UTC"
jobstores.default = {{ type = "sqlalchemy", url = "sqlite:///{path.parent / "run.sqlite"}" }}
{jobs}
"""
    )
    return path


def start_command(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "apscheduler", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def run_until_started(*argv: str, stop: int = signal.SIGINT) -> tuple[int, str, str]:
    """Run the command until its scheduler has started, then stop it with ``stop``."""
    process = start_command(*argv)
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "Scheduler started" in line or not line:
            break
    process.send_signal(stop)
    out, err = process.communicate(timeout=20)
    return process.returncode, out, "".join(lines) + err


TICK = """
[[jobs]]
id = "tick"
func = "builtins:print"
args = ["tick"]
trigger = "interval hours=1"
"""
NIGHTLY = """
[[jobs]]
id = "nightly"
func = "builtins:print"
trigger = "0 3 * * *"
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_stores_the_jobs_and_stops_cleanly_on_a_signal(tmp_path, stop):
    schedule = write_schedule(tmp_path / "schedule.toml", TICK + NIGHTLY)

    code, out, err = run_until_started("run", str(schedule), stop=stop)

    assert code == 0, err
    assert out.splitlines() == ["added file:tick", "added file:nightly"]
    assert "Scheduler has been shut down" in err
    assert "Traceback" not in err
    url = f"sqlite:///{tmp_path / 'run.sqlite'}"
    assert stored_next_run_time(url, "file:nightly").hour == 3


def test_reconcile_makes_the_store_match_the_file(tmp_path):
    schedule = write_schedule(tmp_path / "schedule.toml", TICK + NIGHTLY)
    url = f"sqlite:///{tmp_path / 'run.sqlite'}"
    assert run_until_started("run", str(schedule))[0] == 0
    with SchedulerClient(jobstores={"default": {"type": "sqlalchemy", "url": url}}) as client:
        client.scheduler.start(paused=True)
        client.scheduler.add_job("builtins:print", "interval", hours=5, id="not-from-the-file")
        client.scheduler.shutdown()
    write_schedule(tmp_path / "schedule.toml", TICK.replace("hours=1", "hours=3"))

    code, out, err = run_until_started("run", str(schedule), "--reconcile")

    assert code == 0, err
    assert out.splitlines() == ["updated file:tick", "removed file:nightly (no longer declared)"]
    with SchedulerClient(jobstores={"default": {"type": "sqlalchemy", "url": url}}) as client:
        jobs = {job.id: str(job.trigger) for job in client.get_jobs()}
    assert jobs == {"file:tick": "interval[3:00:00]", "not-from-the-file": "interval[5:00:00]"}

    code, out, _ = run_until_started("run", str(schedule), "--reconcile")
    assert out.splitlines() == ["the store already holds every declared job"]


def test_run_with_a_bad_file_exits_2(cli, tmp_path):
    schedule = write_schedule(tmp_path / "bad.toml", TICK.replace("interval", "sometimes"))

    code, _, err = cli("run", str(schedule))

    assert code == 2
    assert "job 'tick': cannot read the trigger 'sometimes hours=1'" in err


def test_the_example_schedule_is_valid(cli):
    code, out, _ = cli("run", "--check", str(ROOT / "examples" / "schedule.toml"))

    assert (code, out) == (
        0,
        [f"{ROOT / 'examples' / 'schedule.toml'}: 2 jobs, all triggers valid."],
    )


@pytest.mark.parametrize("command", [[], ["next"], ["jobs"], ["jobs", "pause"], ["run"]])
def test_every_command_has_help(command):
    result = subprocess.run(
        [sys.executable, "-m", "apscheduler", *command, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )

    assert result.returncode == 0
    assert result.stdout.startswith("usage: apscheduler")


def test_run_with_a_duration_stops_cleanly_by_itself(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "short.toml"
    config.write_text(
        f"""
[scheduler]
timezone = "UTC"
[scheduler.jobstores.default]
type = "sqlalchemy"
url = "sqlite:///{tmp_path / "short.sqlite"}"

[[jobs]]
id = "tick"
func = "builtins:print"
args = ["tick"]
trigger = "interval seconds=1"
"""
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "apscheduler", "run", str(config), "--duration", "2.5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("tick\n") >= 2
    assert time.monotonic() - started < 30


def test_a_command_run_in_process_leaves_the_library_log_level_alone(tmp_path):
    import logging

    from apscheduler.cli import main

    logger = logging.getLogger("apscheduler")
    before = logger.level
    main(["jobs", "--store", "redis://127.0.0.1:1/0"])

    assert logger.level == before
