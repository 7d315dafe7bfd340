"""Web hardening on real servers: security headers on every response (404, 405, 403, 500 included), no 500 from a
malformed path on SQLite or PostgreSQL, /healthz that checks the store and each source's freshness, and an access
log of `matcher serve` that never holds a token."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from helpers_champion import seed_champion_store
from helpers_digest import NOW, free_port, make_config, store_for, web_server
from sqlalchemy import text

from matcher.clock import utc_now
from matcher.deliver.tokens import LinkSigner
from matcher.store import make_engine, session_scope
from matcher.store.champions import add_champion
from matcher.store.models import Watermark
from matcher.web.app import create_app
from matcher.web.hardening import SECURITY_HEADERS, health, redact_path


@pytest.fixture
def served(tmp_path, db_url):
    port = free_port()
    cfg = make_config(tmp_path, database={"url": db_url}, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    engine = store_for(cfg)
    seed_champion_store(engine)
    with session_scope(engine) as s:
        champion = add_champion(s, "Chris Champion", "chris@council.example")[0].id
    signer = LinkSigner.from_config(cfg)
    with web_server(create_app(cfg, engine), port) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client, urlsplit(signer.champion_url(champion)).path, engine, signer


def _has_headers(r: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (r.status_code, r.request.url, name)


def test_security_headers_are_on_every_response_errors_included(served):
    client, champion, engine, signer = served
    responses = [
        client.get(champion),  # a page
        client.get("/no/such/page"),  # 404 from routing
        client.get(f"{champion}/mark"),  # 405: a POST-only route
        client.post("/signup", data={"email": "x@example.org"}),  # 403 from the CSRF check
        client.get(f"{champion}/sme/nobody"),  # our own 404 page
        client.get("/healthz"),
    ]
    assert [r.status_code for r in responses] == [200, 404, 405, 403, 404, 200]
    for r in responses:
        _has_headers(r)
    with engine.begin() as conn:  # break the store under the running app: the next page is a 500
        conn.execute(text("DROP TABLE champion"))
    broken = client.get(champion)
    assert broken.status_code == 500
    _has_headers(broken)


@pytest.mark.parametrize("tail", ["/sme/%00", "/sme/a%00b", "/sme/%0d%0aX-Injected:1", "/sme/%FF%FE", "/sme/" + "x" * 300])
def test_a_malformed_path_is_never_a_500(served, tail):
    client, champion, _, _ = served
    r = client.get(champion + tail)
    assert r.status_code in (400, 404), r.text[:200]
    _has_headers(r)
    for path in ("/feedback/%00", "/unsubscribe/%00", "/profile/a%00", f"{champion}?week=%00", "/champion/%00"):
        r = client.get(path)
        assert r.status_code in (400, 403, 404), (path, r.status_code)
        _has_headers(r)


def test_healthz_checks_the_store_and_each_sources_freshness(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"},
                      scheduler={"poll_every_minutes": 30},
                      sources={"contracts_finder": {"base_url": "https://www.contractsfinder.service.gov.uk"},
                               "sell2wales": {"base_url": "https://api.sell2wales.gov.wales", "enabled": False}})
    engine = store_for(cfg)
    with web_server(create_app(cfg, engine), port) as base, httpx.Client(base_url=base, timeout=10) as client:
        never = client.get("/healthz")
        with session_scope(engine) as s:
            s.add(Watermark(source="contracts_finder", last_success_at=utc_now() - timedelta(minutes=61)))
        stale = client.get("/healthz")
        with session_scope(engine) as s:
            s.get(Watermark, "contracts_finder").last_success_at = utc_now() - timedelta(minutes=59)
        fresh = client.get("/healthz")
    assert never.status_code == 503 and "no successful poll yet" in never.json()["sources"]["contracts_finder"]
    assert stale.status_code == 503 and "over 1:00:00 ago" in stale.json()["sources"]["contracts_finder"]
    assert fresh.status_code == 200 and fresh.json() == {"status": "ok", "database": "ok",
                                                         "sources": {"contracts_finder": "ok"}}
    _has_headers(stale)


def test_healthz_is_unhealthy_when_the_store_is_down(tmp_path):
    cfg = make_config(tmp_path)
    status, body = health(cfg, make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"), NOW)
    assert status == 503 and json.loads(body)["database"].startswith("unreachable")


def test_redact_path_cuts_tokens_and_query_strings():
    assert redact_path("/champion/eyJhbGciOiJIUzI1NiJ9.abc.def/sme/acme?week=2025-W05") == "/champion/<token>/sme/acme"
    assert redact_path("/unsubscribe/InNtZTAxIg.Zx9_abcdefghijklmnop") == "/unsubscribe/<token>"
    assert redact_path("/champion/sign-in") == "/champion/sign-in"


def test_the_access_log_of_matcher_serve_never_holds_a_token(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    engine = store_for(cfg)
    seed_champion_store(engine)
    with session_scope(engine) as s:
        champion = add_champion(s, "Chris Champion", "chris@council.example")[0].id
    signer = LinkSigner.from_config(cfg)
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "{cfg.database.url}"\n[digest]\npublic_base_url = "http://127.0.0.1:{port}"\n'
        f'[secrets]\nsecret_env = "MATCHER_TEST_SECRET_NOT_SET"\nsecret_file = "secret-key"\n')
    proc = subprocess.Popen([sys.executable, "-m", "matcher", "serve", "--port", str(port), "--config", "config.toml"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        tokens = [urlsplit(signer.champion_url(champion)).path.rsplit("/", 1)[1],
                  signer.unsubscribe_token("acme"), signer.feedback_token("acme", "n1", "not-relevant")]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "slow"
                    time.sleep(0.2)
            hits = [client.get(f"/champion/{tokens[0]}"), client.get(f"/champion/{tokens[0]}/sme/acme?week=2025-W05"),
                    client.get(f"/unsubscribe/{tokens[1]}"), client.get(f"/feedback/{tokens[2]}"),
                    client.get("/champion/forged-token-abcdefghijklmnop")]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert all(r.status_code < 500 for r in hits)
    assert out.count('"GET /champion/<token>') == 3 and '"GET /unsubscribe/<token>' in out, out
    for token in tokens:
        assert token not in out and token[:16] not in out
