"""
Take the screenshots of the web dashboard that docs/web.rst shows (docs/_static/web-*.png).

Run it from the project's root with Selenium installed and Chromium and chromedriver on the
path::

    python docs/_screenshots.py

It makes a throwaway SQLite store, runs a scheduler on it with a few example jobs (one that
fails, one that is still running when the pictures are taken), serves the dashboard with
actions on, signs in and saves one picture per page.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from apscheduler.client import SchedulerClient
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.web import make_dashboard_server

STATIC = Path(__file__).parent / "_static"
TOKEN = "example-token"
#: page path -> picture name
PAGES = {
    "/": "web-jobs.png",
    "/timeline": "web-timeline.png",
    "/job?id=sync-accounts&store=default": "web-job.png",
    "/running": "web-running.png",
    "/schedulers": "web-schedulers.png",
}


#: id -> (name, function, its argument, trigger, trigger arguments)
EXAMPLE_JOBS: dict[str, tuple[str, str, float, str, dict[str, object]]] = {
    "nightly-backup": ("Nightly backup", "time:sleep", 0, "cron", {"hour": 2, "minute": 30}),
    "sync-accounts": ("Sync accounts", "time:sleep", 0, "interval", {"minutes": 20}),
    "morning-report": (
        "Morning report",
        "time:sleep",
        0,
        "cron",
        {"day_of_week": "mon-fri", "hour": 8},
    ),
    "recompute-scores": ("Recompute scores", "math:sqrt", -1, "interval", {"hours": 4}),
    "long-export": ("Long export", "time:sleep", 60, "interval", {"hours": 6}),
    "cleanup": ("Cleanup", "time:sleep", 0, "cron", {"minute": "*/45"}),
}


def add_example_jobs(scheduler: BackgroundScheduler) -> None:
    """Jobs of the kinds a small application has, with importable standard library functions."""
    for job_id, (name, function, argument, trigger, options) in EXAMPLE_JOBS.items():
        scheduler.add_job(function, trigger, args=[argument], id=job_id, name=name, **options)
    scheduler.pause_job("cleanup")


def make_some_history(scheduler: BackgroundScheduler) -> None:
    """A few finished runs, a failed one and one still going on, for the pictures to show."""
    for _ in range(3):
        scheduler.run_job_now("sync-accounts")
        time.sleep(0.3)
    scheduler.run_job_now("recompute-scores")
    scheduler.run_job_now("long-export")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        running = scheduler.get_job_runs("long-export", state="running")
        failed = scheduler.get_job_runs("recompute-scores", state="failed")
        if running and failed:
            return
        time.sleep(0.1)
    raise RuntimeError("the example runs did not start")


def start_browser() -> webdriver.Chrome:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        sys.exit("chromium and chromedriver must be installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1200,800")
    options.add_argument("--hide-scrollbars")
    return webdriver.Chrome(options=options, service=Service(chromedriver))


def sign_in(browser: webdriver.Chrome, base: str) -> None:
    browser.get(base + "/login")
    browser.find_element(By.NAME, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "main form button").click()


def screenshot(browser: webdriver.Chrome, url: str, target: Path) -> None:
    """Save the page at ``url``, as tall as its content."""
    browser.set_window_size(1200, 800)
    browser.get(url)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1200, min(max(int(height) + 120, 400), 1800))
    browser.get(url)
    browser.save_screenshot(str(target))
    print("saved", target)


def main() -> None:
    STATIC.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        stores = {"default": {"type": "sqlalchemy", "url": f"sqlite:///{directory}/jobs.sqlite"}}
        scheduler = BackgroundScheduler(timezone="UTC", jobstores=stores)
        scheduler.start()
        client = SchedulerClient(jobstores=stores)
        server = make_dashboard_server(client, "127.0.0.1", 0, actions=True, token=TOKEN)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        browser = start_browser()
        try:
            add_example_jobs(scheduler)
            make_some_history(scheduler)
            time.sleep(1)  # the schedulers' facts are written out within a second
            base = f"http://127.0.0.1:{server.server_port}"
            sign_in(browser, base)
            for path, name in PAGES.items():
                screenshot(browser, base + path, STATIC / name)
        finally:
            browser.quit()
            server.shutdown()
            server.server_close()
            client.close()
            scheduler.shutdown(wait=False)


if __name__ == "__main__":
    main()
