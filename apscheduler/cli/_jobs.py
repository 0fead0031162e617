"""
``apscheduler jobs``: list, show, pause, resume, run, remove and explain the jobs in the stores
of running schedulers, and show their runs. Changes are written to the store; schedulers
sharing it hear of them at once, or within their poll interval.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from apscheduler.cli._output import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    CommandError,
    NotFoundError,
    StoreError,
    print_json,
    print_lines,
    table,
    when,
)
from apscheduler.cli._stores import open_client

if TYPE_CHECKING:
    from apscheduler.client import SchedulerClient
    from apscheduler.job import Job

Action = Callable[["SchedulerClient", argparse.Namespace], int]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    store = _store_arguments()
    common = [*parents, store]
    parser = subparsers.add_parser(
        "jobs",
        parents=common,
        help="list and manage the jobs in the stores of running schedulers",
        description=(
            "Work on the jobs in a job store that running schedulers share. Without an "
            "action, list the jobs."
        ),
        epilog=(
            "exit codes: 0 ok, 1 no such job (or no jobs), 2 usage error, "
            "3 bad store URL or store unreachable"
        ),
    )
    parser.set_defaults(handler=_handler(_list_jobs))
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for name, action, summary in (
        ("show", _show_job, "show everything about one job"),
        ("pause", _pause_job, "pause a job: it keeps its schedule but does not run"),
        ("resume", _resume_job, "resume a paused job from now on"),
        ("run", _run_job, "ask the schedulers on the store to run a job once now"),
        ("remove", _remove_job, "remove a job from its store"),
        ("explain", _explain_job, "tell why a job ran or did not run"),
    ):
        sub = actions.add_parser(name, parents=common, help=summary, description=summary)
        sub.add_argument("job_id", metavar="ID")
        sub.set_defaults(handler=_handler(action))
        if name == "explain":
            sub.add_argument("--at", metavar="TIME", help="why it did or did not run then")
    runs = actions.add_parser(
        "runs", parents=common, help="show the recorded runs", description="Recorded runs."
    )
    runs.add_argument("job_id", metavar="ID", nargs="?")
    runs.add_argument("-n", "--limit", type=int, default=20, help="at most this many (20)")
    runs.set_defaults(handler=_handler(_show_runs))
    unloadable = actions.add_parser(
        "unloadable",
        parents=common,
        help="show the stored jobs that cannot be loaded, and why",
        description="Stored jobs that cannot be loaded, and why.",
    )
    unloadable.set_defaults(handler=_handler(_show_unloadable))
    migrate = actions.add_parser(
        "migrate",
        parents=common,
        help="rewrite every job of the store as JSON or as signed pickles (see Security)",
        description=(
            "Rewrite every job of the store in another format. The jobs are read as a plain "
            "pickle store reads them: migrate only a store whose contents you trust."
        ),
    )
    migrate.add_argument("--to", required=True, choices=("json", "signed", "pickle"))
    migrate.add_argument(
        "--secret-env",
        metavar="NAME",
        help="the environment variable holding the pickle secret (for --to signed)",
    )
    migrate.set_defaults(handler=_handler(_migrate_store))


def _store_arguments() -> argparse.ArgumentParser:
    """``--store``/``--config`` on ``jobs`` and on each action, whichever place they are given."""
    parser = argparse.ArgumentParser(add_help=False)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--store",
        "-s",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=(
            "the job store: a SQLAlchemy URL, redis://, mongodb://, zookeeper://HOST:PORT/PATH "
            "or etcd://HOST:PORT/PATH (default: $APSCHEDULER_STORE)"
        ),
    )
    where.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="the stores of a configuration file, as 'apscheduler run' reads it",
    )
    parser.add_argument(
        "--store-option",
        "-o",
        metavar="NAME=VALUE",
        action="append",
        default=argparse.SUPPRESS,
        help="a further argument of the store (tablename=..., jobs_key=...); repeatable",
    )
    parser.add_argument(
        "--jobstore",
        metavar="ALIAS",
        default=argparse.SUPPRESS,
        help="only the store of this alias (of --config)",
    )
    return parser


def _handler(action: Action) -> Callable[[argparse.Namespace], int]:
    """Run ``action`` on a client of the stores, turning store failures into clear errors."""

    def handle(args: argparse.Namespace) -> int:
        # a store that does not answer is reported once, below, not by every retry (the
        # level is put back: main() may run inside a program, or a test suite)
        library_logger = logging.getLogger("apscheduler")
        level = library_logger.level
        library_logger.setLevel(logging.CRITICAL)
        try:
            return _run_action(action, args)
        finally:
            library_logger.setLevel(level)

    return handle


def _run_action(action: Action, args: argparse.Namespace) -> int:
    from apscheduler.jobstores.base import JobLookupError

    client = open_client(
        getattr(args, "store", None),
        getattr(args, "config", None),
        getattr(args, "store_option", []),
    )
    try:
        return action(client, args)
    except JobLookupError:
        raise NotFoundError(f"no job with the id {args.job_id!r}") from None
    except KeyError as exc:
        raise CommandError(f"no job store with the alias {exc.args[0]!r}") from None
    except CommandError:
        raise
    except Exception as exc:  # every store raises its own kind when it cannot be reached
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise StoreError(
            f"the job store did not answer: {type(exc).__name__}: {first_line}"
        ) from None
    finally:
        _close_quietly(client)


def _close_quietly(client: SchedulerClient) -> None:
    try:
        client.close()
    except Exception:  # a store that never answered cannot be closed cleanly either
        pass


def _jobstore(args: argparse.Namespace) -> str | None:
    return getattr(args, "jobstore", None)


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def job_summary(job: Job, alias: str | None) -> dict[str, Any]:
    """The fields of a job that a listing shows, as plain values."""
    from apscheduler.triggers.words import describe_trigger

    return {
        "id": job.id,
        "name": job.name,
        "jobstore": alias,
        "func": job.func_ref,
        "trigger": str(job.trigger),
        "description": describe_trigger(job.trigger),
        "next_run_time": job.next_run_time,
        "paused": job.next_run_time is None,
    }


def _list_jobs(client: SchedulerClient, args: argparse.Namespace) -> int:
    aliases = [_jobstore(args)] if _jobstore(args) else client.aliases
    summaries = [job_summary(job, alias) for alias in aliases for job in client.get_jobs(alias)]
    if _json(args):
        print_json(summaries)
    elif summaries:
        rows = [
            [
                str(summary["id"]),
                str(summary["jobstore"]),
                "paused" if summary["paused"] else when(summary["next_run_time"]),
                str(summary["description"]),
            ]
            for summary in summaries
        ]
        print_lines(table(["ID", "STORE", "NEXT RUN", "SCHEDULE"], rows))
    else:
        print("No jobs.")
    return EXIT_OK if summaries else EXIT_NOT_FOUND


def _show_job(client: SchedulerClient, args: argparse.Namespace) -> int:
    job, alias = client.find_job(args.job_id, _jobstore(args))
    details = {
        **job_summary(job, alias),
        "executor": job.executor,
        "args": job.args,
        "kwargs": job.kwargs,
        "misfire_grace_time": job.misfire_grace_time,
        "coalesce": job.coalesce,
        "max_instances": job.max_instances,
    }
    if _json(args):
        print_json(details)
        return EXIT_OK
    details["next_run_time"] = "paused" if job.next_run_time is None else when(job.next_run_time)
    del details["paused"]
    width = max(map(len, details))
    print_lines(
        [f"{key.replace('_', ' ') + ':':<{width + 2}}{value}" for key, value in details.items()]
    )
    return EXIT_OK


def _pause_job(client: SchedulerClient, args: argparse.Namespace) -> int:
    job = client.pause_job(args.job_id, _jobstore(args))
    _report(args, {"id": job.id, "paused": True}, f"Paused job {job.id}.")
    return EXIT_OK


def _resume_job(client: SchedulerClient, args: argparse.Namespace) -> int:
    job = client.resume_job(args.job_id, _jobstore(args))
    if job is None:
        message = f"Job {args.job_id}'s schedule is over: it was removed."
        _report(args, {"id": args.job_id, "removed": True}, message)
        return EXIT_OK
    message = f"Resumed job {job.id}; it next runs at {when(job.next_run_time)}."
    _report(args, {"id": job.id, "next_run_time": job.next_run_time}, message)
    return EXIT_OK


def _run_job(client: SchedulerClient, args: argparse.Namespace) -> int:
    from apscheduler.schedulers import SchedulerNotRunningError

    try:
        run = client.run_job_now(args.job_id, _jobstore(args))
    except SchedulerNotRunningError:
        raise CommandError(
            f"the store of job {args.job_id!r} is not shared: only a scheduler running on it "
            "could run the job"
        ) from None
    message = f"Asked for a run of job {run.job_id} now (run {run.run_id}): {run.state}."
    _report(args, run._asdict(), message)
    return EXIT_OK


def _remove_job(client: SchedulerClient, args: argparse.Namespace) -> int:
    client.remove_job(args.job_id, _jobstore(args))
    _report(args, {"id": args.job_id, "removed": True}, f"Removed job {args.job_id}.")
    return EXIT_OK


def _explain_job(client: SchedulerClient, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    client.find_job(args.job_id, _jobstore(args))  # an unknown id is an error, not a story
    at = None
    if args.at is not None:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise CommandError(f"--at: not an ISO 8601 time: {args.at!r}") from None
    explanation = client.explain(args.job_id, _jobstore(args), at=at)
    if _json(args):
        print_json(asdict(explanation))
    else:
        print(explanation)
    return EXIT_OK


def _show_runs(client: SchedulerClient, args: argparse.Namespace) -> int:
    from apscheduler.explain import describe_run

    runs = client.get_job_runs(args.job_id, _jobstore(args), limit=args.limit)
    if _json(args):
        print_json([run._asdict() for run in runs])
    elif runs:
        print_lines([f"{run.job_id}  {describe_run(run)}" for run in runs])
    else:
        print("No runs recorded.")
    return EXIT_OK if runs else EXIT_NOT_FOUND


def _show_unloadable(client: SchedulerClient, args: argparse.Namespace) -> int:
    found = client.get_unloadable_jobs(_jobstore(args))
    if _json(args):
        print_json([entry._asdict() for entry in found])
    elif found:
        print_lines([f"{entry.job_id} ({entry.jobstore}): {entry.reason}" for entry in found])
    else:
        print("Every stored job can be loaded.")
    return EXIT_OK if found else EXIT_NOT_FOUND


def _migrate_store(client: SchedulerClient, args: argparse.Namespace) -> int:
    from apscheduler.jobstores import migrate

    only = _jobstore(args)
    results = {}
    for alias in [only] if only else client.aliases:
        try:
            results[alias] = migrate(client.store(alias), args.to, pickle_secret=args.secret_env)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"cannot migrate the job store {alias!r}: {exc}") from None
    if _json(args):
        print_json({alias: {"migrated": r.migrated} for alias, r in results.items()})
    for alias, result in results.items():
        if not _json(args):
            print(f"{alias}: {len(result.migrated)} jobs rewritten as {args.to}")
        for entry in result.unloadable:
            print(f"{entry.job_id} ({alias}) left as it is: {entry.reason}")
    return EXIT_OK


def _report(args: argparse.Namespace, document: dict[str, Any], message: str) -> None:
    if _json(args):
        print_json(document)
    else:
        print(message)
