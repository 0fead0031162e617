"""
The content of each page, read from the stores through a :class:`SchedulerClient`.

A page function takes the request's :class:`View` and returns the page's title and its HTML;
every value from a store is escaped by the helpers of :mod:`apscheduler.web._html`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from apscheduler.client import SchedulerClient
from apscheduler.explain import Explanation, describe_outcome
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.runs import (
    PENDING,
    RUNNING,
    SCHEDULER_PAUSED,
    SCHEDULER_RESUMED,
    SCHEDULER_STARTED,
    SCHEDULER_STOPPED,
    JobRun,
    SchedulerFact,
)
from apscheduler.triggers.words import describe_trigger
from apscheduler.web._html import (
    definitions,
    esc,
    hidden_fields,
    href,
    link,
    state_badge,
    table,
    when,
)
from apscheduler.web._security import CSRF_FIELD
from apscheduler.web._timeline import job_rows, render_svg

#: how far ahead the timeline looks
TIMELINE_HOURS = 24
#: how many runs the pages read at most
RUNS_LIMIT = 1000
#: how many runs a job's page shows
HISTORY_LIMIT = 50
#: the actions a job's page offers: the last part of the form's path -> the button's label
ACTIONS = {
    "pause": "Pause",
    "resume": "Resume",
    "run": "Run now",
    "remove": "Remove",
}
_LIFECYCLE = {SCHEDULER_STARTED, SCHEDULER_PAUSED, SCHEDULER_RESUMED, SCHEDULER_STOPPED}


class NotFound(Exception):
    """The page asked for does not exist (a job that is not there, say)."""


@dataclass
class View:
    """What a page needs to know about the request it answers."""

    client: SchedulerClient
    zone: tzinfo
    root: str
    query: Mapping[str, str] = field(default_factory=dict)
    #: whether the dashboard offers actions at all
    actions: bool = False
    #: the name of who is signed in and may act (``None``: nobody)
    user: str | None = None
    #: the CSRF token for the forms of this page
    csrf: str = ""
    #: whether there is a token to sign in with (a ``/login`` page)
    login: bool = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def job_href(self, job_id: str, jobstore: str | None) -> str:
        return href(self.root, "/job", {"id": job_id, "store": jobstore})


# ----- the jobs


def jobs_page(view: View) -> tuple[str, str]:
    """Every job, filtered by the query, with its state, next run and last outcome."""
    text = view.query.get("q", "").strip()
    state = view.query.get("state", "")
    store = view.query.get("store", "") or None
    if store is not None and store not in view.client.aliases:
        store = None
    jobs = _jobs_with_stores(view.client, store)
    latest = _latest_runs(view.client.get_job_runs(jobstore=store, limit=RUNS_LIMIT))
    shown = [
        (job, alias)
        for job, alias in jobs
        if _matches(job, text) and (not state or _job_state(job) == state)
    ]
    rows = [
        (
            link(view.job_href(job.id, alias), job.id),
            esc(job.name),
            esc(alias),
            state_badge(_job_state(job)),
            esc(describe_trigger(job.trigger)),
            esc(when(job.next_run_time, view.zone)),
            _outcome_cell(latest.get((alias, job.id)), view.zone),
        )
        for job, alias in shown
    ]
    content = (
        _removed_notice(view)
        + _filter_form(view, text, state, store)
        + table(
            ("Job", "Name", "Store", "State", "Trigger", "Next run", "Last outcome"),
            rows,
            "No job matches." if jobs else "There are no jobs in the stores.",
        )
    )
    content += f"<p>{len(shown)} of {len(jobs)} jobs.</p>"
    return "Jobs", content


def _removed_notice(view: View) -> str:
    removed = view.query.get("removed")
    if removed is None:
        return ""
    return f'<p class="notice" role="status">The job {esc(removed)} is no longer in its store.</p>'


def _jobs_with_stores(client: SchedulerClient, store: str | None) -> list[tuple[Job, str]]:
    aliases = [store] if store is not None else client.aliases
    return [(job, alias) for alias in aliases for job in client.get_jobs(alias)]


def _job_state(job: Job) -> str:
    return "paused" if job.next_run_time is None else "scheduled"


def _matches(job: Job, text: str) -> bool:
    if not text:
        return True
    needle = text.casefold()
    haystack = (job.id, job.name, job.func_ref or "")
    return any(needle in value.casefold() for value in haystack)


def _latest_runs(runs: Iterable[JobRun]) -> dict[tuple[str | None, str], JobRun]:
    """The newest run of each job (``runs`` come newest first)."""
    latest: dict[tuple[str | None, str], JobRun] = {}
    for run in runs:
        latest.setdefault((run.jobstore, run.job_id), run)
    return latest


def _outcome_cell(run: JobRun | None, zone: tzinfo) -> str:
    if run is None:
        return '<span class="empty">no run recorded</span>'
    return f"{state_badge(run.state)} {esc(when(run.scheduled_run_time, zone))}"


def _filter_form(view: View, text: str, state: str, store: str | None) -> str:
    states = "".join(
        f'<option value="{value}"{" selected" if value == state else ""}>{label}</option>'
        for value, label in (("", "any state"), ("scheduled", "scheduled"), ("paused", "paused"))
    )
    stores = '<option value="">every store</option>' + "".join(
        f'<option value="{esc(alias)}"{" selected" if alias == store else ""}>'
        f"{esc(alias)}</option>"
        for alias in view.client.aliases
    )
    return (
        f'<form class="filter" method="get" action="{href(view.root, "/")}" role="search">'
        f'<label>Find <input type="search" name="q" value="{esc(text)}" '
        'placeholder="id, name or function"></label>'
        f'<label>State <select name="state">{states}</select></label>'
        f'<label>Store <select name="store">{stores}</select></label>'
        '<button type="submit">Filter</button></form>'
    )


# ----- the timeline


def timeline_svg(view: View) -> str:
    """The SVG picture of the next :data:`TIMELINE_HOURS` hours of fire times."""
    start = view.now()
    end = start + timedelta(hours=TIMELINE_HOURS)
    rows = job_rows(_jobs_with_stores(view.client, None), start, end)
    return render_svg(rows, start, TIMELINE_HOURS, view.zone, view.root)


def timeline_page(view: View) -> tuple[str, str]:
    """The timeline, with a word on what it shows."""
    content = (
        f"<p>When each scheduled job fires in the next {TIMELINE_HOURS} hours, by its trigger "
        f"(times in {esc(view.zone)}; paused jobs are left out). "
        "Point at a mark for its time; click a job for its page. "
        f"{link(href(view.root, '/timeline.svg'), 'The picture alone')}.</p>"
        f"<figure>{timeline_svg(view)}</figure>"
    )
    return "Timeline", content


# ----- one job


def job_page(view: View) -> tuple[str, str]:
    """A job: what it runs and when, its actions, why it ran or not, its history."""
    job_id = view.query.get("id", "")
    store = view.query.get("store") or None
    try:
        job, alias = view.client.find_job(job_id, store)
    except (JobLookupError, KeyError) as exc:
        raise NotFound(
            f"There is no job {job_id!r} (a stored job that cannot be loaded is listed on the "
            "Unloadable page)."
        ) from exc
    explanation = view.client.explain(job.id, alias, at=view.query.get("at") or None)
    runs = view.client.get_job_runs(job.id, alias, limit=HISTORY_LIMIT)
    content = (
        _notice(view)
        + _job_facts(job, alias, explanation, view.zone)
        + _actions(view, job, alias)
        + _next_runs(explanation, view.zone)
        + _explain_section(view, job, alias, explanation)
        + _history(runs, view.zone)
    )
    return f"Job {job.name}", content


def _notice(view: View) -> str:
    done = view.query.get("done")
    words = {
        "pause": "The job was paused.",
        "resume": "The job was resumed.",
        "run": "A run was asked for; a scheduler on the store will make it.",
    }
    if done not in words:
        return ""
    return f'<p class="notice" role="status">{esc(words[done])}</p>'


def _job_facts(job: Job, alias: str, explanation: Explanation, zone: tzinfo) -> str:
    items = [
        ("Id", f"<code>{esc(job.id)}</code>"),
        ("Name", esc(job.name)),
        ("Store", esc(alias)),
        ("State", state_badge(explanation.state)),
        ("Runs", esc(describe_trigger(job.trigger))),
        ("Trigger", f"<code>{esc(job.trigger)}</code>"),
        ("Next run", esc(when(job.next_run_time, zone))),
        ("Function", f"<code>{esc(job.func_ref or job.func)}</code>"),
        ("Arguments", f"<code>{esc(repr(tuple(job.args)))}</code>"),
        ("Keyword arguments", f"<code>{esc(repr(job.kwargs))}</code>"),
        ("Executor", esc(job.executor)),
        ("Max instances", esc(job.max_instances)),
        ("Misfire grace time", esc(job.misfire_grace_time)),
        ("Coalesce", esc("yes" if job.coalesce else "no")),
    ]
    return definitions(items)


def action_form(view: View, action: str, job_id: str, alias: str) -> str:
    """A form that POSTs one action on the job, with the CSRF token."""
    fields = hidden_fields({"id": job_id, "store": alias, CSRF_FIELD: view.csrf})
    return (
        f'<form method="post" action="{href(view.root, "/job/" + action)}">{fields}'
        f'<button type="submit" name="action" value="{esc(action)}">'
        f"{esc(ACTIONS[action])}</button></form>"
    )


def _actions(view: View, job: Job, alias: str) -> str:
    if not view.actions:
        return ""
    if view.user is None:
        if view.login:
            sign_in = link(href(view.root, "/login"), "Sign in")
            return f"<p>{sign_in} to pause, resume, run or remove jobs.</p>"
        return "<p>You may not change jobs here.</p>"
    wanted = ["resume" if job.next_run_time is None else "pause", "run", "remove"]
    forms = "".join(action_form(view, action, job.id, alias) for action in wanted)
    return f'<h2>Actions</h2><div class="actions">{forms}</div>'


def _next_runs(explanation: Explanation, zone: tzinfo) -> str:
    heading = "Would next run at" if explanation.state == "paused" else "Next runs"
    items = "".join(f"<li>{esc(when(moment, zone))}</li>" for moment in explanation.next_run_times)
    body = f"<ol>{items}</ol>" if items else '<p class="empty">No fire time to come.</p>'
    return f"<h2>{esc(heading)}</h2>{body}"


def _explain_section(view: View, job: Job, alias: str, explanation: Explanation) -> str:
    at = view.query.get("at", "")
    form = (
        f'<form class="filter" method="get" action="{href(view.root, "/job")}">'
        f"{hidden_fields({'id': job.id, 'store': alias})}"
        f'<label>Why did it or did it not run at <input name="at" value="{esc(at)}" '
        'placeholder="2026-03-03 03:00:00"></label>'
        '<button type="submit">Explain</button></form>'
    )
    parts = [f"<p>{esc(note)}</p>" for note in explanation.notes]
    if explanation.moment is not None:
        moment = explanation.moment
        parts.append(
            f'<p class="notice" role="status"><strong>At {esc(when(moment.at, view.zone))}:'
            f"</strong> {esc(moment.summary)} ({state_badge(moment.verdict)})</p>"
        )
    return "<h2>Explain</h2>" + form + "".join(parts)


def _history(runs: list[JobRun], zone: tzinfo) -> str:
    rows = [
        (
            esc(when(run.scheduled_run_time, zone)),
            state_badge(run.state),
            esc(run.attempt),
            esc(when(run.started_at, zone)),
            esc(when(run.finished_at, zone)),
            _run_detail(run),
        )
        for run in runs
    ]
    return "<h2>History</h2>" + table(
        ("Scheduled", "State", "Attempt", "Started", "Finished", "Outcome"),
        rows,
        "No run recorded.",
    )


def _run_detail(run: JobRun) -> str:
    text = esc(describe_outcome(run))
    if run.traceback:
        text += f"<details><summary>traceback</summary><pre>{esc(run.traceback)}</pre></details>"
    return text


# ----- runs going on, unloadable jobs


def running_page(view: View) -> tuple[str, str]:
    """The runs going on now, and those asked for that no scheduler has taken yet."""
    now = view.now()
    running = view.client.get_job_runs(state=RUNNING, limit=RUNS_LIMIT)
    pending = view.client.get_job_runs(state=PENDING, limit=RUNS_LIMIT)
    running_rows = [
        (
            link(view.job_href(run.job_id, run.jobstore), run.job_id),
            esc(run.jobstore),
            esc(when(run.scheduled_run_time, view.zone)),
            esc(when(run.started_at or run.submitted_at, view.zone)),
            esc(_elapsed(run.started_at or run.submitted_at, now)),
            esc(_where(run)),
            esc(run.attempt),
        )
        for run in running
    ]
    pending_rows = [
        (
            link(view.job_href(run.job_id, run.jobstore), run.job_id),
            esc(run.jobstore),
            esc(when(run.scheduled_run_time, view.zone)),
        )
        for run in pending
    ]
    content = (
        table(
            ("Job", "Store", "Scheduled", "Started", "For", "Where", "Attempt"),
            running_rows,
            "No run is going on.",
        )
        + "<h2>Asked for, not started yet</h2>"
        + table(("Job", "Store", "Asked for"), pending_rows, "No run is waiting.")
    )
    return "Running now", content


def _elapsed(started: datetime | None, now: datetime) -> str:
    if started is None:
        return "\N{EM DASH}"
    seconds = max(int((now - started).total_seconds()), 0)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _where(run: JobRun) -> str:
    return f"{run.host}:{run.pid}" if run.host is not None else "\N{EM DASH}"


def unloadable_page(view: View) -> tuple[str, str]:
    """The stored jobs that cannot be loaded, with why (they stay in their store untouched)."""
    rows = [
        (f"<code>{esc(job.job_id)}</code>", esc(job.jobstore), esc(job.reason))
        for job in view.client.get_unloadable_jobs()
    ]
    content = (
        "<p>These jobs are stored but cannot be loaded (their function or trigger cannot be "
        "imported, say). The schedulers leave them in the store as they are.</p>"
        + table(("Job", "Store", "Why"), rows, "Every stored job loads.")
    )
    return "Unloadable jobs", content


# ----- the scheduler processes


@dataclass
class Process:
    """A scheduler instance, as the facts it recorded tell of it."""

    owner: str
    latest: SchedulerFact | None = None
    started: SchedulerFact | None = None
    stores: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        if self.latest is None:
            return "unknown"
        kind = self.latest.kind
        if kind == SCHEDULER_STOPPED:
            return "stopped"
        if kind == SCHEDULER_PAUSED or (kind == SCHEDULER_STARTED and self.latest.detail):
            return "paused"
        return "running"


def read_facts(client: SchedulerClient) -> list[SchedulerFact]:
    """The facts of every store's run history, once each, newest first."""
    seen: dict[str, SchedulerFact] = {}
    for alias in client.aliases:
        client.store(alias)
        for fact in client.scheduler._run_recorder.get_facts(alias, None):
            seen.setdefault(fact.fact_id, fact)
    return sorted(
        seen.values(), key=lambda fact: (fact.at.timestamp(), fact.fact_id), reverse=True
    )


def processes_of(facts: Iterable[SchedulerFact]) -> list[Process]:
    """The scheduler instances that recorded ``facts`` (newest first), latest news first."""
    processes: dict[str, Process] = {}
    for fact in facts:
        process = processes.setdefault(fact.owner, Process(fact.owner))
        if fact.jobstore is not None:
            process.stores.add(fact.jobstore)
        if fact.kind in _LIFECYCLE and process.latest is None:
            process.latest = fact
        if fact.kind == SCHEDULER_STARTED and process.started is None:
            process.started = fact
    order = {"running": 0, "paused": 1, "unknown": 2, "stopped": 3}
    return sorted(processes.values(), key=lambda process: order[process.status])


def schedulers_page(view: View) -> tuple[str, str]:
    """The scheduler processes that share the stores, from the facts they recorded."""
    facts = read_facts(view.client)
    processes = [process for process in processes_of(facts) if process.latest is not None]
    rows = [
        (
            f"<code>{esc(_host_and_pid(process.owner))}</code>",
            state_badge(process.status),
            esc(when(process.started.at if process.started else None, view.zone)),
            esc(when(process.latest.at if process.latest else None, view.zone)),
            esc(", ".join(sorted(process.stores)) or "\N{EM DASH}"),
        )
        for process in processes
    ]
    fact_rows = [
        (
            esc(when(fact.at, view.zone)),
            esc(fact.kind),
            f"<code>{esc(_host_and_pid(fact.owner))}</code>",
            esc(fact.jobstore or "\N{EM DASH}"),
            esc(fact.job_id or "\N{EM DASH}"),
            esc(fact.detail or ""),
        )
        for fact in facts[:50]
    ]
    content = (
        "<p>Every scheduler records in the run history of its stores when it starts, pauses, "
        "resumes and stops. A process that was killed could not record stopping, so it stays "
        "listed as running.</p>"
        + table(
            ("Process", "State", "Started", "Last change", "Stores in its facts"),
            rows,
            "No scheduler has recorded starting (or the stores keep no run history).",
        )
        + "<h2>Latest facts</h2>"
        + table(
            ("When", "What", "Process", "Store", "Job", "Detail"), fact_rows, "No fact recorded."
        )
    )
    return "Scheduler processes", content


def _host_and_pid(owner: str) -> str:
    parts = owner.rsplit(":", 1)
    return parts[0] if len(parts) == 2 else owner
