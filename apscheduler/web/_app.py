"""The WSGI application: routing, requests and responses, and the guarded actions."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from apscheduler.client import SchedulerClient
from apscheduler.jobstores.base import JobLookupError
from apscheduler.util import astimezone
from apscheduler.web import _pages
from apscheduler.web._html import CSS, REFRESH_SCRIPT, esc, hidden_fields, href, page, url
from apscheduler.web._security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    TOKEN_USER,
    Authenticate,
    Guard,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("apscheduler.web")

#: the largest form body read (the dashboard's forms are a few hundred bytes)
MAX_BODY = 64 * 1024

_STATUS_TEXT = {
    200: "200 OK",
    303: "303 See Other",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
}

#: what each action did, as the log says it
_DONE = {"pause": "paused", "resume": "resumed", "run": "asked for a run of", "remove": "removed"}

PageFunction = Callable[[_pages.View], "tuple[str, str]"]

#: the pages read with GET: path -> (function, the navigation entry it belongs to)
PAGES: dict[str, tuple[PageFunction, str]] = {
    "/": (_pages.jobs_page, "/"),
    "/timeline": (_pages.timeline_page, "/timeline"),
    "/job": (_pages.job_page, "/"),
    "/running": (_pages.running_page, "/running"),
    "/unloadable": (_pages.unloadable_page, "/unloadable"),
    "/schedulers": (_pages.schedulers_page, "/schedulers"),
}


def _source_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


#: only the dashboard's own style and script run, even if something slipped through escaping
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src {_source_hash(CSS)}; "
    f"script-src {_source_hash(REFRESH_SCRIPT)}; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class Request:
    """The parts of a WSGI request the dashboard reads."""

    environ: Mapping[str, Any]
    method: str
    path: str
    #: where the dashboard is mounted (``SCRIPT_NAME``), for its links
    root: str
    query: dict[str, str]
    cookies: dict[str, str]
    _form: dict[str, str] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> Request:
        query = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
        return cls(
            environ=environ,
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=str(environ.get("PATH_INFO", "")) or "/",
            root=str(environ.get("SCRIPT_NAME", "")).rstrip("/"),
            query=query,
            cookies=_parse_cookies(str(environ.get("HTTP_COOKIE", ""))),
        )

    def form(self) -> dict[str, str]:
        """The fields of a URL-encoded POST body (read once)."""
        if self._form is None:
            try:
                length = min(int(self.environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
            except ValueError:
                length = 0
            body = self.environ["wsgi.input"].read(length) if length > 0 else b""
            self._form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return self._form

    @property
    def secure(self) -> bool:
        return self.environ.get("wsgi.url_scheme") == "https"

    @property
    def remote(self) -> str:
        return str(self.environ.get("REMOTE_ADDR") or "an unknown address")


def _parse_cookies(header: str) -> dict[str, str]:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in cookie.items()}


@dataclass
class Response:
    """What the dashboard answers: a status, headers and the body."""

    status: int
    body: str = ""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def set_cookie(self, request: Request, name: str, value: str, max_age: int | None) -> None:
        parts = [f"{name}={value}", f"Path={request.root or '/'}", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if request.secure:
            parts.append("Secure")
        self.headers.append(("Set-Cookie", "; ".join(parts)))


class Dashboard:
    """
    The dashboard as a WSGI application; made by :func:`apscheduler.web.make_app`.

    Requests are answered one at a time with regard to the client (a
    :class:`~apscheduler.client.SchedulerClient` is not made for several threads at once);
    the routes of ``extra_routes`` are not held up by that.
    """

    def __init__(
        self,
        client: SchedulerClient,
        *,
        actions: bool = False,
        token: str | None = None,
        authenticate: Authenticate | None = None,
        extra_routes: Mapping[str, WSGIApplication] | None = None,
        timezone: tzinfo | str | None = None,
        title: str = "APScheduler",
        secret: bytes | None = None,
    ) -> None:
        if actions and token is None and authenticate is None:
            raise ValueError(
                "actions=True needs a token or an authenticate hook: anyone who can reach the "
                "dashboard could change the jobs otherwise"
            )
        self.client = client
        self.actions = actions
        self.guard = Guard(token=token, authenticate=authenticate, secret=secret)
        self.extra_routes = {
            "/" + path.strip("/"): app for path, app in (extra_routes or {}).items()
        }
        self.zone: tzinfo = astimezone(timezone) or client.scheduler.timezone
        self.title = title
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "")) or "/"
        extra = self._extra_route(path)
        if extra is not None:
            prefix, app = extra
            inner = dict(environ)
            inner["SCRIPT_NAME"] = str(environ.get("SCRIPT_NAME", "")).rstrip("/") + prefix
            inner["PATH_INFO"] = path[len(prefix) :]
            return app(inner, start_response)

        request = Request.from_environ(environ)
        response = self.handle(request)
        body = response.body.encode("utf-8")
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            *response.headers,
        ]
        start_response(_STATUS_TEXT[response.status], headers)
        return [b""] if request.method == "HEAD" else [body]

    def _extra_route(self, path: str) -> tuple[str, WSGIApplication] | None:
        for prefix, app in self.extra_routes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return prefix, app
        return None

    # ----- dispatching

    def handle(self, request: Request) -> Response:
        """The response to ``request`` (every route but the extra ones)."""
        seed = request.cookies.get(CSRF_COOKIE, "")
        new_seed = ""
        if self.actions and not seed:
            seed = new_seed = self.guard.new_csrf_seed()
        response = self._route(request, seed)
        if new_seed:
            response.set_cookie(request, CSRF_COOKIE, new_seed, None)
        return response

    def _route(self, request: Request, seed: str) -> Response:
        path = request.path
        method = "GET" if request.method == "HEAD" else request.method
        if path == "/login" and self._has_login:
            return self._login(request, seed, method)
        if path in PAGES or path == "/timeline.svg":
            if method != "GET":
                return self._refuse(request, 405, "Pages are read with GET.", allow="GET")
            if path == "/timeline.svg":
                return self._timeline_svg(request, seed)
            return self._page(request, seed, *PAGES[path])
        action = path[len("/job/") :] if path.startswith("/job/") else ""
        if action in _pages.ACTIONS:
            if method != "POST":
                return self._refuse(request, 405, "Actions are sent with POST.", allow="POST")
            return self._act(request, action)
        if path == "/logout" and self._has_login:
            if method != "POST":
                return self._refuse(request, 405, "Signing out is sent with POST.", allow="POST")
            return self._logout(request)
        return self._refuse(request, 404, "There is no such page.")

    @property
    def _has_login(self) -> bool:
        return self.actions and self.guard.token is not None

    # ----- pages

    def _view(self, request: Request, seed: str) -> _pages.View:
        user = None
        if self.actions:
            user = self.guard.user(request.environ, request.cookies)
        return _pages.View(
            client=self.client,
            zone=self.zone,
            root=request.root,
            query=request.query,
            actions=self.actions,
            user=user,
            csrf=self.guard.csrf_token(seed) if seed else "",
            login=self._has_login,
        )

    def _page(self, request: Request, seed: str, function: PageFunction, current: str) -> Response:
        view = self._view(request, seed)
        try:
            with self._lock:
                title, content = function(view)
        except _pages.NotFound as exc:
            return self._refuse(request, 404, str(exc), view)
        except Exception as exc:
            logger.exception("The dashboard could not answer %s %s", request.method, request.path)
            return self._refuse(request, 500, f"Could not read the stores: {exc}", view)
        return Response(200, self._document(view, current, title, content))

    def _timeline_svg(self, request: Request, seed: str) -> Response:
        view = self._view(request, seed)
        try:
            with self._lock:
                svg = _pages.timeline_svg(view)
        except Exception as exc:
            logger.exception("The dashboard could not draw the timeline")
            return self._refuse(request, 500, f"Could not read the stores: {exc}", view)
        return Response(200, svg, content_type="image/svg+xml; charset=utf-8")

    def _document(
        self, view: _pages.View, current: str, title: str, content: str, *, refresh: bool = True
    ) -> str:
        return page(
            root=view.root,
            current=current,
            title=title,
            site_title=self.title,
            content=content,
            account=self._account(view),
            refresh=refresh,
        )

    def _account(self, view: _pages.View) -> str:
        if not view.actions:
            return "read only"
        if view.user is None:
            if view.login:
                return f'<a href="{href(view.root, "/login")}">Sign in</a>'
            return "read only"
        text = f"signed in as {esc(view.user)}"
        if view.user == TOKEN_USER and view.login:
            fields = hidden_fields({CSRF_FIELD: view.csrf})
            text += (
                f' <form method="post" action="{href(view.root, "/logout")}">{fields}'
                '<button type="submit">Sign out</button></form>'
            )
        return text

    def _refuse(
        self,
        request: Request,
        status: int,
        message: str,
        view: _pages.View | None = None,
        *,
        allow: str | None = None,
    ) -> Response:
        view = view or _pages.View(self.client, self.zone, request.root)
        title = _STATUS_TEXT[status].split(" ", 1)[1]
        content = f'<p class="error" role="alert">{esc(message)}</p>'
        response = Response(status, self._document(view, "", title, content, refresh=False))
        if allow is not None:
            response.headers.append(("Allow", allow))
        return response

    # ----- actions

    def _act(self, request: Request, action: str) -> Response:
        if not self.actions:
            logger.warning("Refused %s from %s: actions are turned off", action, request.remote)
            return self._refuse(request, 403, "Actions are turned off on this dashboard.")
        refusal = self._check_post(request, action)
        if refusal is not None:
            return refusal
        user = self.guard.user(request.environ, request.cookies) or ""
        form = request.form()
        job_id, store = form.get("id", ""), form.get("store") or None
        try:
            with self._lock:
                outcome = self._perform(action, job_id, store)
        except (JobLookupError, KeyError):
            return self._refuse(request, 404, f"There is no job {job_id!r}.")
        except Exception as exc:
            logger.exception("The dashboard could not %s job %r", action, job_id)
            return self._refuse(request, 500, f"Could not {action} the job: {exc}")
        logger.info(
            "Dashboard action by %s: %s job %r in store %r (from %s)",
            user,
            _DONE[action],
            job_id,
            store,
            request.remote,
        )
        if outcome == "gone":
            return _redirect(url(request.root, "/", {"removed": job_id}))
        return _redirect(url(request.root, "/job", {"id": job_id, "store": store, "done": action}))

    def _check_post(self, request: Request, what: str) -> Response | None:
        """A refusal if the POST is not from someone signed in, with the page's token."""
        user = self.guard.user(request.environ, request.cookies)
        if user is None:
            logger.warning("Refused %s from %s: not signed in", what, request.remote)
            return self._refuse(request, 403, "Sign in before changing jobs.")
        given = request.form().get(CSRF_FIELD, "")
        if not self.guard.csrf_is_valid(request.cookies.get(CSRF_COOKIE, ""), given):
            logger.warning("Refused %s from %s: missing or wrong CSRF token", what, request.remote)
            return self._refuse(
                request, 403, "The form's security token is missing or wrong: reload the page."
            )
        return None

    def _perform(self, action: str, job_id: str, store: str | None) -> str:
        """Do ``action`` on the job; ``"gone"`` if it is no longer there afterwards."""
        if action == "pause":
            self.client.pause_job(job_id, store)
        elif action == "resume":
            if self.client.resume_job(job_id, store) is None:
                return "gone"
        elif action == "run":
            self.client.run_job_now(job_id, store)
        else:
            self.client.remove_job(job_id, store)
            return "gone"
        return "done"

    # ----- signing in with the token

    def _login(self, request: Request, seed: str, method: str) -> Response:
        view = self._view(request, seed)
        if method == "GET":
            return Response(200, self._document(view, "", "Sign in", _login_form(view)))
        if method != "POST":
            return self._refuse(request, 405, "Sign in with the form.", allow="GET, POST")
        form = request.form()
        if not self.guard.csrf_is_valid(
            request.cookies.get(CSRF_COOKIE, ""), form.get(CSRF_FIELD, "")
        ):
            logger.warning(
                "Refused signing in from %s: missing or wrong CSRF token", request.remote
            )
            return self._refuse(request, 403, "The form's security token is missing or wrong.")
        if not self.guard.token_matches(form.get("token", "")):
            logger.warning("Refused signing in from %s: wrong token", request.remote)
            content = '<p class="error" role="alert">That is not the token.</p>' + _login_form(
                view
            )
            return Response(403, self._document(view, "", "Sign in", content, refresh=False))
        logger.info("Dashboard: signed in with the token from %s", request.remote)
        response = _redirect(url(request.root, "/"))
        response.set_cookie(request, SESSION_COOKIE, self.guard.new_session(), None)
        return response

    def _logout(self, request: Request) -> Response:
        if not self.guard.csrf_is_valid(
            request.cookies.get(CSRF_COOKIE, ""), request.form().get(CSRF_FIELD, "")
        ):
            return self._refuse(request, 403, "The form's security token is missing or wrong.")
        response = _redirect(url(request.root, "/"))
        response.set_cookie(request, SESSION_COOKIE, "", 0)
        return response


def _login_form(view: _pages.View) -> str:
    fields = hidden_fields({CSRF_FIELD: view.csrf})
    return (
        f'<form method="post" action="{href(view.root, "/login")}">{fields}'
        '<label>Token <input type="password" name="token" autocomplete="current-password" '
        'required></label> <button type="submit">Sign in</button></form>'
    )


def _redirect(location: str) -> Response:
    response = Response(303, "")
    response.headers.append(("Location", location))
    return response
