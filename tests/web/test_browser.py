"""
The dashboard in a real headless Chromium, served by wsgiref on a real store with a real running
scheduler: the pages render, an action changes the store, a forged POST is refused.
"""

from __future__ import annotations

import os
import shutil
import threading
import urllib.error
import urllib.request
from urllib.parse import urlencode
from wsgiref.simple_server import make_server

import pytest

from apscheduler.web import DashboardServer, make_dashboard_server
from tests.web.conftest import EVIL_NAME, TOKEN, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _browser_missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; the browser tests must run in CI")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _browser_missing("selenium is not installed")
    if CHROMIUM is None or CHROMEDRIVER is None:
        _browser_missing("chromium or chromedriver is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def dashboard(client, driver):
    """The base URL of an acting dashboard on 127.0.0.1, in a thread; the browser starts fresh."""
    server = make_dashboard_server(client, "127.0.0.1", 0, actions=True, token=TOKEN)
    thread = _serve(server)
    base = f"http://127.0.0.1:{server.server_port}"
    driver.get(base + "/")
    driver.delete_all_cookies()
    yield base
    server.shutdown()
    thread.join(10)
    server.server_close()


@pytest.fixture
def attacker():
    """
    Another site (another origin) whose page posts a form to the dashboard by itself; threaded,
    as the browser may hold a connection open that a one-at-a-time server would wait on.
    """
    page = {"html": b""}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page["html"]]

    server = make_server("127.0.0.1", 0, app, server_class=DashboardServer)
    thread = _serve(server)
    yield page, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(10)
    server.server_close()


def by_css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def click_and_load(driver, element):
    """Click a link or button and wait until the page it leads to has replaced this one."""
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    page = by_css(driver, "html")[0]
    element.click()
    WebDriverWait(driver, 10).until(staleness_of(page))


def sign_in(driver, base):
    driver.get(base + "/login")
    by_css(driver, "input[name=token]")[0].send_keys(TOKEN)
    click_and_load(driver, by_css(driver, "main form button[type=submit]")[0])
    assert "signed in as" in by_css(driver, "header .who")[0].text


def test_the_pages_render_the_jobs_of_the_store(driver, dashboard, running):
    driver.get(dashboard + "/")

    assert driver.title == "Jobs \N{EN DASH} APScheduler"
    job_ids = [row.text for row in by_css(driver, "tbody tr td:first-child")]
    assert sorted(job_ids) == ["evil", "nightly", "slow"]

    click_and_load(driver, by_css(driver, "a[href='/job?id=nightly&store=default']")[0])
    assert by_css(driver, "h1")[0].text == "Job Nightly"
    assert "at 03:00" in driver.page_source
    assert [h2.text for h2 in by_css(driver, "h2")] == ["Next runs", "Explain", "History"]

    driver.get(dashboard + "/timeline")
    assert len(by_css(driver, "svg rect[width='3']")) > 40

    driver.get(dashboard + "/schedulers")
    wait_for(lambda: driver.refresh() or by_css(driver, ".state-running"))


def test_a_name_with_a_script_is_shown_as_text(driver, dashboard):
    from selenium.common.exceptions import NoAlertPresentException

    driver.get(dashboard + "/job?id=evil")

    assert by_css(driver, "h1")[0].text == f"Job {EVIL_NAME}"
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - reading it is what fails


def test_pausing_from_the_job_page_changes_the_store(driver, dashboard, running):
    driver.get(dashboard + "/job?id=nightly")
    assert not by_css(driver, "form[method=post] button[value=pause]")

    sign_in(driver, dashboard)
    driver.get(dashboard + "/job?id=nightly")
    click_and_load(driver, by_css(driver, "button[value=pause]")[0])

    assert by_css(driver, "p.notice")[0].text == "The job was paused."
    assert running.get_job("nightly").next_run_time is None
    assert by_css(driver, "button[value=resume]")


def test_a_forged_post_from_another_site_is_refused(driver, dashboard, attacker, running):
    page, attacker_url = attacker
    sign_in(driver, dashboard)
    page["html"] = (
        f'<form id="f" method="post" action="{dashboard}/job/remove">'
        '<input type="hidden" name="id" value="nightly"></form>'
        "<script>document.getElementById('f').submit()</script>"
    ).encode()

    driver.get(attacker_url)
    wait_for(lambda: driver.title.startswith("Forbidden"))

    assert driver.current_url == dashboard + "/job/remove"
    # the browser sent its session (the other port is the same site): the CSRF check refused it
    assert "security token is missing or wrong" in by_css(driver, "main p")[0].text
    assert running.get_job("nightly") is not None


def test_a_post_with_the_browsers_cookies_but_without_the_token_answers_403(
    driver, dashboard, running
):
    sign_in(driver, dashboard)
    cookies = "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in driver.get_cookies())
    request = urllib.request.Request(
        dashboard + "/job/pause",
        data=urlencode({"id": "nightly"}).encode(),
        headers={"Cookie": cookies},
        method="POST",
    )

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 403
    refused.value.close()
    assert running.get_job("nightly").next_run_time is not None
    driver.get(dashboard + "/job?id=nightly")
    assert by_css(driver, "button[value=pause]")  # the session itself still may act
