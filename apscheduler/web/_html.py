"""
The pieces every page is made of: escaping, times, links and the page around the content.

Everything that comes from a store (ids, names, arguments, reasons, tracebacks) goes through
:func:`esc` before it is put into a page; the helpers here take plain text and escape it, so
that a page function escapes by calling them rather than by remembering to.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from urllib.parse import urlencode

#: the states of runs and jobs, as CSS classes (anything else gets no colour)
STATE_CLASSES = frozenset(
    {
        "succeeded",
        "failed",
        "missed",
        "skipped",
        "lost",
        "timed_out",
        "running",
        "pending",
        "scheduled",
        "paused",
        "stopped",
        "unloadable",
    }
)

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #243b53; color: #fff; padding: 0.6rem 1.2rem; display: flex;
  flex-wrap: wrap; align-items: center; gap: 1.2rem; }
header a { color: #fff; text-decoration: none; }
header a[aria-current] { text-decoration: underline; font-weight: bold; }
header .title { font-weight: bold; font-size: 1.1rem; }
header .who { margin-left: auto; font-size: 0.9rem; }
header form { display: inline; }
nav a { margin-right: 1rem; }
main { padding: 1rem 1.2rem 2rem; max-width: 80rem; }
h1 { font-size: 1.4rem; margin: 0.4rem 0 0.8rem; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 0.5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd;
  vertical-align: top; }
th { background: #eef2f6; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { white-space: pre-wrap; background: #f0f0f0; padding: 0.5rem; }
.state { padding: 0 0.35rem; border-radius: 0.25rem; background: #e5e5e5; }
.state-succeeded, .state-scheduled { background: #d3f0d8; }
.state-failed, .state-lost, .state-timed_out, .state-unloadable { background: #f8d3d3; }
.state-missed, .state-skipped, .state-paused, .state-stopped { background: #f6e7c1; }
.state-running, .state-pending { background: #d3e4f8; }
.notice { background: #e8f4e8; border-left: 4px solid #3a8f3a; padding: 0.4rem 0.8rem; }
.error { background: #fbe9e9; border-left: 4px solid #b33; padding: 0.4rem 0.8rem; }
.empty { color: #666; font-style: italic; }
.actions form { display: inline-block; margin-right: 0.5rem; }
form.filter { margin-bottom: 0.8rem; display: flex; gap: 0.6rem; flex-wrap: wrap; }
footer { color: #666; font-size: 0.85rem; padding: 0 1.2rem 1rem; }
svg text { font-family: system-ui, sans-serif; font-size: 12px; }
"""

#: reloads the page every few seconds while the box is ticked (remembered across pages)
REFRESH_SCRIPT = """
(function () {
  var box = document.getElementById("auto-refresh");
  if (!box) { return; }
  box.checked = window.localStorage.getItem("apscheduler-refresh") === "on";
  box.addEventListener("change", function () {
    window.localStorage.setItem("apscheduler-refresh", box.checked ? "on" : "off");
  });
  window.setInterval(function () { if (box.checked) { window.location.reload(); } }, 10000);
})();
"""

#: the pages of the navigation bar: path, label
NAVIGATION = (
    ("/", "Jobs"),
    ("/timeline", "Timeline"),
    ("/running", "Running now"),
    ("/unloadable", "Unloadable"),
    ("/schedulers", "Schedulers"),
)


def esc(value: object) -> str:
    """``value`` as text safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def when(moment: datetime | None, zone: tzinfo) -> str:
    """A time as the dashboard shows it, in its time zone (an em dash for none)."""
    if moment is None:
        return "\N{EM DASH}"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


def url(root: str, path: str, query: Mapping[str, str | None] | None = None) -> str:
    """The URL of a page of the dashboard mounted at ``root`` (``None`` values left out)."""
    pairs = {key: value for key, value in (query or {}).items() if value is not None}
    return root + path + ("?" + urlencode(pairs) if pairs else "")


def href(root: str, path: str, query: Mapping[str, str | None] | None = None) -> str:
    """:func:`url`, escaped for an attribute."""
    return esc(url(root, path, query))


def link(escaped_url: str, text: object) -> str:
    """A link to ``escaped_url`` (made by :func:`href`) that reads ``text``."""
    return f'<a href="{escaped_url}">{esc(text)}</a>'


def state_badge(state: str, text: str | None = None) -> str:
    """A state word in its colour."""
    css = f" state-{state}" if state in STATE_CLASSES else ""
    return f'<span class="state{css}">{esc(text if text is not None else state)}</span>'


def table(headings: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table of cells that are already HTML, or ``empty`` (plain text) if there is no row."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f'<th scope="col">{esc(heading)}</th>' for heading in headings)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def definitions(items: Iterable[tuple[str, str]]) -> str:
    """A definition list of (plain label, HTML value) pairs."""
    body = "".join(f"<dt>{esc(label)}</dt><dd>{value}</dd>" for label, value in items)
    return f"<dl>{body}</dl>"


def hidden_fields(fields: Mapping[str, str]) -> str:
    """Hidden inputs that carry ``fields`` with a form."""
    return "".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
        for name, value in fields.items()
    )


def page(
    *,
    root: str,
    current: str,
    title: str,
    site_title: str,
    content: str,
    account: str = "",
    refresh: bool = True,
) -> str:
    """The whole document around ``content`` (HTML), with the navigation bar."""
    items = []
    for path, label in NAVIGATION:
        marker = ' aria-current="page"' if path == current else ""
        items.append(f'<a href="{esc(root + path)}"{marker}>{esc(label)}</a>')
    refresh_box = (
        '<label><input type="checkbox" id="auto-refresh"> refresh every 10 s</label>'
        if refresh
        else ""
    )
    script = f"<script>{REFRESH_SCRIPT}</script>" if refresh else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} \N{EN DASH} {esc(site_title)}</title>"
        f"<style>{CSS}</style></head><body>"
        f'<header><span class="title">{esc(site_title)}</span>'
        f'<nav aria-label="Pages">{" ".join(items)}</nav>'
        f'<span class="who">{account}</span></header>'
        f"<main><h1>{esc(title)}</h1>{content}</main>"
        f"<footer>{refresh_box}</footer>{script}</body></html>"
    )
