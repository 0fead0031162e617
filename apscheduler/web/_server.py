"""Serving the dashboard with the standard library's WSGI server (``apscheduler web``)."""

from __future__ import annotations

import logging
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from apscheduler.client import SchedulerClient
from apscheduler.web._app import Dashboard

logger = logging.getLogger("apscheduler.web")


class DashboardServer(ThreadingMixIn, WSGIServer):
    """A WSGI server that answers each request in a thread of its own."""

    daemon_threads = True
    allow_reuse_address = True


class _LoggingHandler(WSGIRequestHandler):
    """Writes each request to the ``apscheduler.web`` logger instead of standard error."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        logger.info("%s %s", self.address_string(), format % args)


def make_dashboard_server(
    client: SchedulerClient, host: str = "127.0.0.1", port: int = 8000, **app_options: Any
) -> DashboardServer:
    """
    A server of the dashboard, bound and ready for ``serve_forever()`` (port 0: a free one,
    then read from ``server.server_port``).

    :param app_options: the keyword arguments of :func:`~apscheduler.web.make_app`
    """
    app = Dashboard(client, **app_options)
    server = make_server(
        host, port, app, server_class=DashboardServer, handler_class=_LoggingHandler
    )
    assert isinstance(server, DashboardServer)
    return server


def serve(
    client: SchedulerClient, host: str = "127.0.0.1", port: int = 8000, **app_options: Any
) -> None:
    """
    Serve the dashboard on ``host:port`` until interrupted (``KeyboardInterrupt`` is passed
    on, for the caller to end with).

    :param app_options: the keyword arguments of :func:`~apscheduler.web.make_app`
    """
    with make_dashboard_server(client, host, port, **app_options) as server:
        logger.info("Serving the dashboard on http://%s:%d/", host, server.server_port)
        server.serve_forever()
