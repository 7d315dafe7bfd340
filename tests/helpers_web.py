"""For the sign-up, profile, verdict and desk tests: a form's CSRF token, posting a form as a browser would, and
the service's own emails from the outbox (they leave after the response, so they are waited for)."""
from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from bs4 import BeautifulSoup
from helpers_digest import parse_eml

URL = re.compile(r"https?://\S+")


def soup(r: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(r.text, "html.parser")


def path(url: str) -> str:
    return urlsplit(url).path


def token_of(client: httpx.Client, page: str) -> str:
    """GET a page and return the csrftoken of its first form (the cookie lands in the client)."""
    r = client.get(page)
    assert r.status_code == 200, (page, r.status_code, r.text[:300])
    field = soup(r).find("input", attrs={"name": "csrftoken"})
    assert field is not None and field["value"], f"no csrftoken field on {page}"
    return field["value"]


def as_form(items: dict | list) -> dict[str, list[str]]:
    """Form fields as httpx sends them: each name with its values, in order (a list of pairs allowed)."""
    out: dict[str, list[str]] = {}
    for k, v in (items.items() if isinstance(items, dict) else items):
        out.setdefault(k, []).append(v)
    return out


def post_form(client: httpx.Client, page: str, data: dict | list, action: str | None = None) -> httpx.Response:
    """POST a form from `page` (its CSRF token included) to `action` (default: the same path)."""
    token = token_of(client, page)
    items = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(action or page, data=as_form([("csrftoken", token), *items]))


SIGNUP = {
    "name": "Harbour Web Studio", "emails": "owner@harbour.example\nops@harbour.example",
    "capabilities": "We build accessible websites and digital services for councils and libraries.",
    "keywords": "website, accessibility", "regions": "South West", "value_min": "10000", "value_max": "200000",
    "cadence": "weekly",
}


def signup_form(**changes: str) -> list[tuple[str, str]]:
    data = {**SIGNUP, **changes}
    return [(k, v) for k, v in data.items() if v is not None]


def account_mails(outbox: Path, kind: str | None = None, wait: float = 5.0, count: int = 1) -> list[EmailMessage]:
    """The account emails in <outbox>/account/ (optionally of one kind), waiting until `count` are there."""
    deadline = time.monotonic() + wait
    while True:
        files = sorted((outbox / "account").glob("*.eml")) if (outbox / "account").is_dir() else []
        found = [parse_eml(f.read_bytes()) for f in files if kind is None or f"-{kind}-" in f.name]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def links_in(message: EmailMessage) -> list[str]:
    return URL.findall(message.get_body(("plain",)).get_content())
