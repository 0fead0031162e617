"""The dashboard called as a plain WSGI application: every route, escaping and the guards."""

from __future__ import annotations

import logging
import os
import socket
import xml.etree.ElementTree as ElementTree
from datetime import timezone

import pytest

from apscheduler.triggers.words import describe_trigger
from apscheduler.web import make_app
from tests.web import _jobs
from tests.web._wsgi import WsgiAgent
from tests.web.conftest import EVIL_ARG, EVIL_NAME, TOKEN, make_unloadable, wait_for

UTC = timezone.utc


@pytest.fixture
def reader(client):
    return WsgiAgent(make_app(client))


@pytest.fixture
def actor(client):
    """Someone who signed in with the token on an acting dashboard."""
    agent = WsgiAgent(make_app(client, actions=True, token=TOKEN))
    page = agent.get("/login")
    answer = agent.post("/login", {"token": TOKEN, "csrf_token": page.hidden("csrf_token")})
    assert answer.status == 303
    return agent


def csrf_of(agent, job_id="nightly"):
    return agent.get(f"/job?id={job_id}").hidden("csrf_token")


# ----- the pages


def test_the_jobs_page_lists_every_job_with_state_next_run_and_last_outcome(running, reader):
    running.pause_job("slow")

    page = reader.get("/")

    assert page.status == 200
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "<h1>Jobs</h1>" in page.text
    assert 'href="/job?id=nightly&amp;store=default">nightly</a>' in page.text
    assert describe_trigger(running.get_job("nightly").trigger) in page.text
    assert running.get_job("nightly").next_run_time.strftime("%Y-%m-%d %H:%M:%S") in page.text
    assert '<span class="state state-paused">paused</span>' in page.text
    assert "no run recorded" in page.text
    assert "3 of 3 jobs." in page.text


def test_the_jobs_page_shows_the_last_outcome(running, reader):
    running.run_job_now("nightly")
    wait_for(lambda: running.get_job_runs("nightly", state="succeeded"))

    page = reader.get("/?q=nightly")

    assert '<span class="state state-succeeded">succeeded</span>' in page.text


def test_the_jobs_page_filters(running, reader):
    running.pause_job("slow")

    by_text = reader.get("/?q=NIGHT")
    by_state = reader.get("/?state=paused")

    assert "1 of 3 jobs." in by_text.text and ">nightly</a>" in by_text.text
    assert ">slow</a>" not in by_text.text
    assert "1 of 3 jobs." in by_state.text and ">slow</a>" in by_state.text
    assert "No job matches." in reader.get("/?q=nothing-like-it").text


def test_a_job_page_tells_the_trigger_in_words_next_runs_history_and_why(running, reader):
    running.run_job_now("nightly")
    wait_for(lambda: running.get_job_runs("nightly", state="succeeded"))
    job = running.get_job("nightly")

    page = reader.get("/job?id=nightly&store=default")

    assert page.status == 200
    assert "<h1>Job Nightly</h1>" in page.text
    assert describe_trigger(job.trigger) in page.text
    assert "<h2>Next runs</h2>" in page.text
    assert job.next_run_time.strftime("%Y-%m-%d %H:%M:%S") in page.text
    assert "<h2>History</h2>" in page.text
    assert '<span class="state state-succeeded">succeeded</span>' in page.text
    assert "tests.web._jobs:record" in page.text


def test_a_job_page_explains_a_moment(running, reader):
    page = reader.get("/job?id=nightly&at=2020-01-01+03:00:00")

    assert "At 2020-01-01 03:00:00 UTC:" in page.text
    assert "no scheduler was running" in page.text


def test_a_missing_job_is_not_found(reader):
    page = reader.get("/job?id=nothing")

    assert page.status == 404
    assert "There is no job &#x27;nothing&#x27;" in page.text


def test_an_unknown_page_is_not_found(reader):
    assert reader.get("/nothing").status == 404


def test_the_timeline_draws_the_next_fire_times(running, reader):
    job = running.get_job("nightly")

    page = reader.get("/timeline")
    picture = reader.get("/timeline.svg")

    assert page.status == 200 and "<svg" in page.text
    assert picture.header("Content-Type") == "image/svg+xml; charset=utf-8"
    root = ElementTree.fromstring(picture.text)  # a well-formed document
    titles = [element.text for element in root.iter("{http://www.w3.org/2000/svg}title")]
    assert job.next_run_time.strftime("%Y-%m-%d %H:%M:%S UTC") in titles
    assert "Nightly (nightly)" in titles
    marks = [
        rect for rect in root.iter("{http://www.w3.org/2000/svg}rect") if rect.get("width") == "3"
    ]
    assert 1 + 48 + 4 - 1 <= len(marks) <= 1 + 49 + 4  # one nightly, half-hourly, six-hourly


def test_the_running_page_lists_the_runs_going_on(running, reader):
    running.run_job_now("slow")
    wait_for(lambda: running.get_job_runs("slow", state="running"))

    page = reader.get("/running")
    _jobs.release.set()

    assert page.status == 200
    assert 'href="/job?id=slow&amp;store=default">slow</a>' in page.text
    assert f"{socket.gethostname()}:{os.getpid()}" in page.text
    assert "0:00:0" in page.text  # running for a few seconds


def test_the_running_page_says_when_nothing_runs(reader):
    assert "No run is going on." in reader.get("/running").text


def test_the_unloadable_page_lists_the_jobs_that_cannot_be_loaded(db_file, reader):
    assert "Every stored job loads." in reader.get("/unloadable").text

    make_unloadable(db_file, "slow")
    page = reader.get("/unloadable")

    assert "<code>slow</code>" in page.text
    assert "Every stored job loads." not in page.text


def test_the_schedulers_page_lists_the_processes_from_their_facts(running, reader):
    wait_for(lambda: "scheduler_started" in reader.get("/schedulers").text)
    page = reader.get("/schedulers")

    assert page.status == 200
    assert f"<code>{socket.gethostname()}:{os.getpid()}</code>" in page.text
    assert '<span class="state state-running">running</span>' in page.text
    assert "scheduler_started" in page.text


def test_a_stopped_scheduler_is_listed_as_stopped(store_config, client, reader):
    from apscheduler.schedulers.background import BackgroundScheduler

    other = BackgroundScheduler(timezone="UTC", jobstores=store_config)
    other.start()
    other.shutdown()

    wait_for(lambda: reader.get("/schedulers").text.count("scheduler_started") == 2)
    wait_for(lambda: "scheduler_stopped" in reader.get("/schedulers").text)
    page = reader.get("/schedulers")

    assert '<span class="state state-stopped">stopped</span>' in page.text
    assert '<span class="state state-running">running</span>' in page.text


# ----- escaping


@pytest.mark.parametrize("path", ["/", "/job?id=evil", "/timeline", "/timeline.svg"])
def test_what_comes_from_the_store_is_escaped(reader, path):
    page = reader.get(path)

    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in page.text


def test_arguments_are_escaped_on_the_job_page(reader):
    page = reader.get("/job?id=evil")

    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#x27;args&#x27;)&lt;/script&gt;" in page.text
    assert EVIL_NAME not in page.text and EVIL_ARG not in page.text


def test_only_the_dashboards_own_script_may_run(reader):
    policy = reader.get("/").header("Content-Security-Policy")

    assert "default-src 'none'" in policy
    assert "script-src 'sha256-" in policy
    assert "unsafe-inline" not in policy


# ----- actions off


def test_actions_are_off_by_default(running, reader):
    page = reader.get("/job?id=nightly")
    answer = reader.post("/job/pause", {"id": "nightly"})

    assert 'method="post"' not in page.text
    assert answer.status == 403
    assert "Actions are turned off" in answer.text
    assert running.get_job("nightly").next_run_time is not None


def test_actions_need_a_token_or_an_authentication_hook(client):
    with pytest.raises(ValueError, match="token or an authenticate hook"):
        make_app(client, actions=True)


# ----- actions on: the guards


def test_no_action_through_get(running, actor):
    answer = actor.get("/job/pause?id=nightly")

    assert answer.status == 405
    assert answer.header("Allow") == "POST"
    assert running.get_job("nightly").next_run_time is not None


def test_a_post_without_the_csrf_token_is_refused(running, actor, caplog):
    with caplog.at_level(logging.WARNING, "apscheduler.web"):
        answer = actor.post("/job/pause", {"id": "nightly"})

    assert answer.status == 403
    assert "security token is missing or wrong" in answer.text
    assert running.get_job("nightly").next_run_time is not None
    assert "missing or wrong CSRF token" in caplog.text


def test_a_post_with_a_wrong_csrf_token_is_refused(running, actor):
    answer = actor.post("/job/pause", {"id": "nightly", "csrf_token": "0" * 64})

    assert answer.status == 403
    assert running.get_job("nightly").next_run_time is not None


def test_a_csrf_token_does_not_fit_another_browsers_cookie(running, actor, client):
    token = csrf_of(actor)
    actor.cookies["apscheduler_csrf"] = "another-browsers-seed"

    answer = actor.post("/job/pause", {"id": "nightly", "csrf_token": token})

    assert answer.status == 403
    assert running.get_job("nightly").next_run_time is not None


def test_a_post_from_someone_not_signed_in_is_refused(running, client):
    agent = WsgiAgent(make_app(client, actions=True, token=TOKEN))
    page = agent.get("/job?id=nightly")
    token = agent.get("/login").hidden("csrf_token")

    answer = agent.post("/job/pause", {"id": "nightly", "csrf_token": token})

    assert "Sign in</a> to pause" in page.text
    assert answer.status == 403
    assert running.get_job("nightly").next_run_time is not None


def test_signing_in_with_a_wrong_token_is_refused(client):
    agent = WsgiAgent(make_app(client, actions=True, token=TOKEN))
    page = agent.get("/login")

    answer = agent.post("/login", {"token": "guess", "csrf_token": page.hidden("csrf_token")})

    assert answer.status == 403
    assert "apscheduler_session" not in agent.cookies


def test_a_session_lasts_twelve_hours(client):
    guard = make_app(client, actions=True, token=TOKEN).guard
    session = guard.new_session(now=1_000_000)

    assert guard.session_is_valid(session, now=1_000_000 + 12 * 3600)
    assert not guard.session_is_valid(session, now=1_000_000 + 12 * 3600 + 1)
    assert not guard.session_is_valid(session.replace(".1000000.", ".1000001."), now=1_000_000)
    assert not make_app(client, actions=True, token=TOKEN).guard.session_is_valid(session)


def test_signing_out_ends_the_session(actor):
    page = actor.get("/")
    answer = actor.post("/logout", {"csrf_token": page.hidden("csrf_token")})

    assert answer.status == 303
    assert "Sign in</a> to pause" in actor.get("/job?id=nightly").text


# ----- actions on: what they do


def test_pausing_and_resuming(running, actor, caplog):
    with caplog.at_level(logging.INFO, "apscheduler.web"):
        paused = actor.post("/job/pause", {"id": "nightly", "csrf_token": csrf_of(actor)})

    assert paused.status == 303
    assert paused.header("Location") == "/job?id=nightly&done=pause"
    assert running.get_job("nightly").next_run_time is None
    assert "Dashboard action by token holder: paused job 'nightly'" in caplog.text
    page = actor.get(paused.header("Location"))
    assert "The job was paused." in page.text
    assert 'value="resume"' in page.text

    resumed = actor.post("/job/resume", {"id": "nightly", "csrf_token": page.hidden("csrf_token")})

    assert resumed.status == 303
    assert running.get_job("nightly").next_run_time is not None


def test_running_now(running, actor):
    answer = actor.post("/job/run", {"id": "nightly", "csrf_token": csrf_of(actor)})

    assert answer.status == 303
    wait_for(lambda: _jobs.calls == ["nightly"])


def test_removing(running, actor):
    answer = actor.post("/job/remove", {"id": "nightly", "csrf_token": csrf_of(actor)})

    assert answer.status == 303
    assert answer.header("Location") == "/?removed=nightly"
    assert running.get_job("nightly") is None
    assert "The job nightly is no longer in its store." in actor.get("/?removed=nightly").text


def test_an_action_on_a_missing_job_is_not_found(actor):
    answer = actor.post("/job/pause", {"id": "nothing", "csrf_token": csrf_of(actor)})

    assert answer.status == 404


def test_a_bearer_token_authenticates_without_a_session(running, client):
    agent = WsgiAgent(make_app(client, actions=True, token=TOKEN))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    token = agent.get("/job?id=nightly", **bearer).hidden("csrf_token")

    answer = agent.post("/job/pause", {"id": "nightly", "csrf_token": token}, **bearer)

    assert answer.status == 303
    assert running.get_job("nightly").next_run_time is None


def test_an_authentication_hook_names_who_acts(running, client, caplog):
    app = make_app(client, actions=True, authenticate=lambda environ: environ.get("REMOTE_USER"))
    agent = WsgiAgent(app)
    assert "/login" not in agent.get("/").text
    assert agent.get("/login").status == 404
    assert 'method="post"' not in agent.get("/job?id=nightly").text

    token = agent.get("/job?id=nightly", REMOTE_USER="alice").hidden("csrf_token")
    stranger = agent.post("/job/pause", {"id": "nightly", "csrf_token": token})
    with caplog.at_level(logging.INFO, "apscheduler.web"):
        answer = agent.post(
            "/job/pause", {"id": "nightly", "csrf_token": token}, REMOTE_USER="alice"
        )

    assert stranger.status == 403
    assert answer.status == 303
    assert running.get_job("nightly").next_run_time is None
    assert "Dashboard action by alice: paused job 'nightly'" in caplog.text


# ----- mounting


def test_links_follow_where_the_app_is_mounted(client):
    agent = WsgiAgent(make_app(client), script_name="/scheduler")

    page = agent.get("/")

    assert 'href="/scheduler/timeline"' in page.text
    assert 'href="/scheduler/job?id=nightly&amp;store=default"' in page.text


def test_extra_routes_are_answered_by_their_own_application(client):
    seen = {}

    def metrics(environ, start_response):
        seen.update(script=environ["SCRIPT_NAME"], path=environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"jobs 3\n"]

    agent = WsgiAgent(make_app(client, extra_routes={"/metrics": metrics}))

    answer = agent.get("/metrics")

    assert answer.text == "jobs 3\n"
    assert seen == {"script": "/metrics", "path": ""}


def test_pages_are_read_with_get_only(reader):
    answer = reader.post("/", {"q": "nightly"})

    assert answer.status == 405
    assert answer.header("Allow") == "GET"


def test_a_head_request_gets_the_headers_without_the_page(reader):
    answer = reader.request("HEAD", "/")

    assert answer.status == 200
    assert answer.text == ""
