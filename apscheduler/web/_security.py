"""
Who may change jobs through the dashboard, and proof that a form was sent from its own page.

Two checks guard every action (a POST; nothing changes through GET):

* authentication: the ``authenticate`` hook names the user of a request, or the request
  carries the dashboard's ``token`` (as ``Authorization: Bearer``, or as the signed session
  cookie, good for 12 hours, that signing in with the token on ``/login`` sets);
* CSRF: the form carries a hidden field derived, by an HMAC with a secret of the process, from
  a random cookie of the browser. Another site can make a browser send the cookie, but cannot
  read the page to learn the field, so its forged form lacks the right value.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

#: the cookie holding the browser's random CSRF seed
CSRF_COOKIE = "apscheduler_csrf"
#: the cookie of a session signed in with the token
SESSION_COOKIE = "apscheduler_session"
#: the hidden form field holding the CSRF token
CSRF_FIELD = "csrf_token"
#: how long a session signed in with the token lasts
SESSION_SECONDS = 12 * 3600
#: the name actions are logged under for a request authenticated by the token
TOKEN_USER = "token holder"

Authenticate = Callable[[Mapping[str, Any]], "str | None"]


class Guard:
    """
    The authentication and CSRF checks of one dashboard.

    :param token: the shared secret that lets its holder act (``None``: no token)
    :param authenticate: a function of the WSGI environ that returns the user's name, or
        ``None`` if the request may not act
    :param secret: the HMAC key (random per process unless given, so that several processes
        serving one dashboard accept each other's forms)
    """

    def __init__(
        self,
        *,
        token: str | None,
        authenticate: Authenticate | None,
        secret: bytes | None = None,
    ) -> None:
        if token is not None and not token:
            raise ValueError("the token must not be empty")
        self.token = token
        self.authenticate = authenticate
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    # ----- who

    def user(self, environ: Mapping[str, Any], cookies: Mapping[str, str]) -> str | None:
        """The name of who sent the request, if they may act; ``None`` if they may not."""
        if self.authenticate is not None:
            name = self.authenticate(environ)
            if name:
                return str(name)
        if self.token is None:
            return None
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(credentials.strip()):
            return TOKEN_USER
        if self.session_is_valid(cookies.get(SESSION_COOKIE, "")):
            return TOKEN_USER
        return None

    def token_matches(self, given: str) -> bool:
        """Whether ``given`` is the token (compared in constant time)."""
        if self.token is None:
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())

    def new_session(self, now: float | None = None) -> str:
        """The value of a session cookie for someone who has just given the token."""
        issued = int(time.time() if now is None else now)
        session = f"{secrets.token_urlsafe(18)}.{issued}"
        return f"{session}.{self._sign('session', session)}"

    def session_is_valid(self, cookie: str, now: float | None = None) -> bool:
        """Whether ``cookie`` is a session this dashboard signed, at most 12 hours ago."""
        session, _, signature = cookie.rpartition(".")
        _session_id, _, issued = session.partition(".")
        if not signature or not issued.isdigit():
            return False
        if not hmac.compare_digest(signature, self._sign("session", session)):
            return False
        age = (time.time() if now is None else now) - int(issued)
        return 0 <= age <= SESSION_SECONDS

    # ----- CSRF

    @staticmethod
    def new_csrf_seed() -> str:
        """A fresh random value for the CSRF cookie."""
        return secrets.token_urlsafe(18)

    def csrf_token(self, seed: str) -> str:
        """The hidden field value that goes with the CSRF cookie ``seed``."""
        return self._sign("csrf", seed)

    def csrf_is_valid(self, seed: str, given: str) -> bool:
        """Whether the form's ``given`` token belongs to the browser's cookie ``seed``."""
        if not seed or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(seed))

    def _sign(self, purpose: str, value: str) -> str:
        message = f"{purpose}|{value}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
