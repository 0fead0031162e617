"""``apscheduler web``: serve the dashboard of the stores of running schedulers."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from apscheduler.cli._jobs import _store_arguments
from apscheduler.cli._output import EXIT_OK, CommandError
from apscheduler.cli._stores import open_client


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "web",
        parents=[*parents, _store_arguments()],
        help="serve the web dashboard of a job store",
        description=(
            "Serve the dashboard (jobs, timeline, runs, explain, scheduler processes) of the "
            "stores of running schedulers, until interrupted."
        ),
        epilog="exit codes: 0 stopped, 2 usage error, 3 store unreachable or bad store URL",
    )
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="the port to listen on (8000)")
    parser.add_argument(
        "--actions",
        action="store_true",
        help=(
            "allow pause, resume, run now and remove (needs a token: --token or "
            "$APSCHEDULER_WEB_TOKEN)"
        ),
    )
    parser.add_argument("--token", help="the token that signs in to the actions")
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also serve /metrics for Prometheus (the 'prometheus' extra)",
    )
    parser.set_defaults(handler=serve_dashboard)


def serve_dashboard(args: argparse.Namespace) -> int:
    from apscheduler.web import serve

    token = args.token or os.environ.get("APSCHEDULER_WEB_TOKEN")
    if args.actions and not token:
        raise CommandError("--actions needs a token: --token or $APSCHEDULER_WEB_TOKEN")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    client = open_client(
        getattr(args, "store", None),
        getattr(args, "config", None),
        getattr(args, "store_option", []),
    )
    extra_routes = {}
    if args.metrics:
        extra_routes["/metrics"] = _metrics_app(client)
    try:
        serve(
            client,
            args.host,
            args.port,
            actions=args.actions,
            token=token,
            extra_routes=extra_routes,
        )
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return EXIT_OK


def _metrics_app(client: Any) -> Any:
    """The store's gauges for Prometheus (runs are counted by the processes that make them)."""
    try:
        from prometheus_client import CollectorRegistry

        from apscheduler.metrics.prometheus import instrument, prometheus_wsgi_app
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    registry = CollectorRegistry()
    instrument(client.scheduler, registry)
    return prometheus_wsgi_app(registry)
