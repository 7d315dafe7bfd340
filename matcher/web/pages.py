"""Rendering the pages: templates/web/ and templates/champion/ (autoescaped), with the CSRF token every form
carries, and the shared error pages."""
from __future__ import annotations

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from matcher.web.hardening import SECURITY_HEADERS
from matcher.web.security import csrf_token

class Pages:
    def __init__(self, env: Environment) -> None:
        self.env = env

    def page(self, template: str, status: int = 200, folder: str = "web", request: Request | None = None,
             **context: object) -> HTMLResponse:
        context.setdefault("csrf", csrf_token(request) if request is not None else "")
        html = self.env.get_template(f"{folder}/{template}.html").render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def error(self, status: int, heading: str, message: str) -> HTMLResponse:
        return self.page("error", status, heading=heading, message=message)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

    def too_many(self) -> HTMLResponse:
        return self.error(429, "Too many requests", "Too many requests came from here or for this address in a "
                          "short time. Please wait an hour and try again.")
