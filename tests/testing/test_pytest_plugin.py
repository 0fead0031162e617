"""The pytest plugin, enabled the documented way in a user's test suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap

USER_CONFTEST = 'pytest_plugins = ["apscheduler.testing.pytest_plugin"]\n'

USER_TEST = textwrap.dedent(
    """
    from datetime import datetime, timezone

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.testing import FakeClock, advance

    ran = []


    def test_the_fixture_is_a_fake_clock_at_the_documented_start(scheduler_clock):
        assert isinstance(scheduler_clock, FakeClock)
        assert scheduler_clock.now(timezone.utc) == datetime(2026, 1, 1, tzinfo=timezone.utc)


    def test_a_scheduler_on_it_runs_by_advance(scheduler_clock):
        scheduler = BackgroundScheduler(timezone=timezone.utc, clock=scheduler_clock)
        scheduler.add_job(ran.append, "interval", hours=1, args=["ran"])
        scheduler.start()
        try:
            assert len(advance(scheduler, 3 * 3600)) == 3
        finally:
            scheduler.shutdown()
        assert ran == ["ran"] * 3
    """
)


def run_pytest(directory, *options):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_enabled_with_pytest_plugins_in_the_conftest(tmp_path):
    (tmp_path / "conftest.py").write_text(USER_CONFTEST)
    (tmp_path / "test_user.py").write_text(USER_TEST)

    result = run_pytest(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_enabled_with_the_p_option(tmp_path):
    (tmp_path / "test_user.py").write_text(USER_TEST)

    result = run_pytest(tmp_path, "-p", "apscheduler.testing.pytest_plugin")

    assert result.returncode == 0, result.stdout + result.stderr


def test_off_unless_enabled(tmp_path):
    (tmp_path / "test_user.py").write_text(USER_TEST)

    result = run_pytest(tmp_path)

    assert result.returncode != 0
    assert "fixture 'scheduler_clock' not found" in result.stdout
