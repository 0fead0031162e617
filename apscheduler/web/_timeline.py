"""
A picture of when the jobs will run in the next hours: one row per job, one mark per fire time.

The fire times come from each job's trigger, from its stored next run time on, so the picture
shows what the schedulers will do if nothing changes (a trigger with jitter is drawn with one
draw of its jitter). The SVG is drawn on the server; it needs no script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from apscheduler.job import Job
from apscheduler.web._html import esc, href, when

#: the most fire times drawn per job; a job that fires more often is drawn as a band
MAX_MARKS = 300
#: the most trigger steps taken per job (a job far behind its schedule catches up this far)
MAX_STEPS = 10_000

_LABEL_WIDTH = 240
_CHART_WIDTH = 720
_ROW_HEIGHT = 26
_TOP = 30


@dataclass(frozen=True)
class JobRow:
    """One job's row: its label, and its fire times within the window."""

    job_id: str
    jobstore: str
    label: str
    fire_times: tuple[datetime, ...]
    #: whether it fires more often than :data:`MAX_MARKS` times in the window
    crowded: bool


def fire_times_within(job: Job, start: datetime, end: datetime) -> tuple[list[datetime], bool]:
    """
    The job's fire times from ``start`` to ``end``, and whether there were more than
    :data:`MAX_MARKS` of them.
    """
    found: list[datetime] = []
    fire_time = job.next_run_time
    for _step in range(MAX_STEPS):
        if fire_time is None or fire_time > end:
            return found, False
        if fire_time >= start:
            if len(found) == MAX_MARKS:
                return found, True
            found.append(fire_time)
        following = job.trigger.get_next_fire_time(fire_time, fire_time)
        if following is None or following <= fire_time:
            return found, False
        fire_time = following
    return found, True


def job_rows(jobs: Sequence[tuple[Job, str]], start: datetime, end: datetime) -> list[JobRow]:
    """The rows of the jobs (with their store aliases) that have a next run time."""
    rows = []
    for job, alias in jobs:
        if job.next_run_time is None:
            continue
        times, crowded = fire_times_within(job, start, end)
        label = job.name if job.name == job.id else f"{job.name} ({job.id})"
        rows.append(JobRow(job.id, alias, label, tuple(times), crowded))
    return rows


def render_svg(
    rows: Sequence[JobRow], start: datetime, hours: int, zone: tzinfo, root: str
) -> str:
    """The timeline as an SVG document (usable inline in HTML, or on its own)."""
    height = _TOP + _ROW_HEIGHT * max(len(rows), 1) + 10
    width = _LABEL_WIDTH + _CHART_WIDTH + 20
    opening = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Fire times of the next {hours} hours">'
    )
    parts = [
        opening,
        f"<title>Fire times from {esc(when(start, zone))}, the next {hours} hours</title>",
        '<rect x="0" y="0" width="100%" height="100%" fill="#fff"/>',
    ]
    parts.extend(_hour_grid(start, hours, zone, height))
    if not rows:
        parts.append(
            f'<text x="{_LABEL_WIDTH}" y="{_TOP + 18}" fill="#666">'
            "No job has a next run time.</text>"
        )
    for index, row in enumerate(rows):
        parts.extend(_job_row(row, index, start, hours, zone, root))
    parts.append("</svg>")
    return "".join(parts)


def _x_of(moment: datetime, start: datetime, hours: int) -> float:
    seconds = (moment - start).total_seconds()
    return _LABEL_WIDTH + _CHART_WIDTH * seconds / (hours * 3600)


def _hour_grid(start: datetime, hours: int, zone: tzinfo, height: int) -> list[str]:
    """Vertical lines with their clock times, every few hours."""
    step = 3 if hours >= 12 else 1
    local_start = start.astimezone(zone)
    first = local_start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    parts = []
    moment = first
    while moment <= start + timedelta(hours=hours):
        if moment.astimezone(zone).hour % step == 0:
            x = _x_of(moment, start, hours)
            label = moment.astimezone(zone).strftime("%H:%M")
            parts.append(
                f'<line x1="{x:.1f}" y1="{_TOP - 8}" x2="{x:.1f}" y2="{height - 6}" '
                'stroke="#ddd"/>'
                f'<text x="{x:.1f}" y="{_TOP - 12}" text-anchor="middle" '
                f'fill="#555">{esc(label)}</text>'
            )
        moment += timedelta(hours=1)
    return parts


def _job_row(
    row: JobRow, index: int, start: datetime, hours: int, zone: tzinfo, root: str
) -> list[str]:
    y = _TOP + index * _ROW_HEIGHT
    middle = y + _ROW_HEIGHT / 2
    url = href(root, "/job", {"id": row.job_id, "store": row.jobstore})
    label = row.label if len(row.label) <= 34 else row.label[:33] + "\N{HORIZONTAL ELLIPSIS}"
    baseline = (
        f'<line x1="{_LABEL_WIDTH}" y1="{middle}" x2="{_LABEL_WIDTH + _CHART_WIDTH}" '
        f'y2="{middle}" stroke="#eee"/>'
    )
    name = (
        f'<a href="{url}"><text x="6" y="{middle + 4}" fill="#243b53">'
        f"<title>{esc(row.label)}</title>{esc(label)}</text></a>"
    )
    parts = [baseline, name]
    if row.crowded and row.fire_times:
        first = _x_of(row.fire_times[0], start, hours)
        parts.append(
            f'<rect x="{first:.1f}" y="{y + 6}" width="{_LABEL_WIDTH + _CHART_WIDTH - first:.1f}"'
            f' height="{_ROW_HEIGHT - 12}" fill="#7aa6d6"><title>more than {MAX_MARKS} runs, '
            f"from {esc(when(row.fire_times[0], zone))}</title></rect>"
        )
        return parts
    for fire_time in row.fire_times:
        x = _x_of(fire_time, start, hours)
        parts.append(
            f'<rect x="{x - 1.5:.1f}" y="{y + 5}" width="3" height="{_ROW_HEIGHT - 10}" '
            f'fill="#2f6fb0"><title>{esc(when(fire_time, zone))}</title></rect>'
        )
    return parts
