"""
A web dashboard of the jobs of running schedulers: a WSGI application on a
:class:`~apscheduler.client.SchedulerClient`, made with the standard library only.

It shows the jobs with their state, next run and last outcome, a timeline of the next 24 hours,
each job's trigger in words, next runs, history and explanation, the runs going on, the jobs
that cannot be loaded and the scheduler processes sharing the stores. Optionally, and only
behind authentication and CSRF checks, it pauses, resumes, runs and removes jobs::

    from apscheduler.client import SchedulerClient
    from apscheduler.web import make_app, serve

    client = SchedulerClient(jobstores={"default": {"type": "sqlalchemy", "url": DB_URL}})
    app = make_app(client)              # any WSGI server, or mounted in a framework
    serve(client, "127.0.0.1", 8000)    # or the standard library's server, until interrupted

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import TYPE_CHECKING

from apscheduler.client import SchedulerClient
from apscheduler.web._app import Dashboard
from apscheduler.web._security import Authenticate
from apscheduler.web._server import DashboardServer, make_dashboard_server, serve

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def make_app(
    client: SchedulerClient,
    *,
    actions: bool = False,
    token: str | None = None,
    authenticate: Authenticate | None = None,
    extra_routes: Mapping[str, WSGIApplication] | None = None,
    timezone: tzinfo | str | None = None,
    title: str = "APScheduler",
    secret: bytes | None = None,
) -> Dashboard:
    """
    The dashboard of the stores of ``client``, as a WSGI application.

    :param client: the client whose stores are shown (and changed, with ``actions``)
    :param actions: offer pausing, resuming, running and removing jobs; needs ``token`` or
        ``authenticate``
    :param token: a secret that lets whoever gives it act: on the ``/login`` page (which sets
        a session cookie) or as an ``Authorization: Bearer`` header
    :param authenticate: a function of the WSGI environ that returns the name of the user who
        may act, or ``None`` (``lambda environ: environ.get("REMOTE_USER")`` behind a server
        that authenticates)
    :param extra_routes: path -> WSGI application answering that path and the ones under it
        (``{"/metrics": metrics_app}``)
    :param timezone: the zone times are shown in (default: the client's)
    :param title: the name in the page header
    :param secret: the key of the CSRF and session signatures (default: random per process;
        give the same one to every process serving one dashboard)
    :raises ValueError: for ``actions=True`` without ``token`` or ``authenticate``
    """
    return Dashboard(
        client,
        actions=actions,
        token=token,
        authenticate=authenticate,
        extra_routes=extra_routes,
        timezone=timezone,
        title=title,
        secret=secret,
    )


__all__ = ["Dashboard", "DashboardServer", "make_app", "make_dashboard_server", "serve"]
