"""A tiny user agent that calls a WSGI application directly, keeping cookies like a browser."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    text: str

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def hidden(self, name: str) -> str:
        """The value of the first hidden field ``name`` of the page."""
        found = re.search(rf'name="{name}" value="([^"]*)"', self.text)
        assert found, f"no field {name} in the page"
        return found.group(1)


class WsgiAgent:
    """Sends requests to ``app`` (checked by ``wsgiref.validate``) and keeps its cookies."""

    def __init__(self, app, script_name: str = "") -> None:
        self.app = validator(app)
        self.script_name = script_name
        self.cookies: dict[str, str] = {}

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict[str, str], **headers: str) -> Answer:
        return self.request("POST", path, form=form, headers=headers)

    def request(self, method, path, *, form=None, headers=None) -> Answer:
        path, _, query = path.partition("?")
        body = urlencode(form).encode() if form is not None else b""
        environ: dict = {}
        setup_testing_defaults(environ)
        environ.update(
            {
                "REQUEST_METHOD": method,
                "SCRIPT_NAME": self.script_name,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": "application/x-www-form-urlencoded",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            }
        )
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for name, value in (headers or {}).items():
            if name.isupper():  # a CGI variable such as REMOTE_USER
                environ[name] = value
            else:
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        captured: dict = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"], captured["headers"] = status, response_headers
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            result.close()
        answer = Answer(int(captured["status"][:3]), captured["headers"], content.decode())
        self._keep_cookies(answer)
        return answer

    def _keep_cookies(self, answer: Answer) -> None:
        for key, value in answer.headers:
            if key.lower() != "set-cookie":
                continue
            pair, _, attributes = value.partition(";")
            name, _, cookie = pair.partition("=")
            if "Max-Age=0" in attributes:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie
