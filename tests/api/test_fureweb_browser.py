"""The fureweb post from a real browser: Debian's Chromium (Playwright) on a page served
from an allowed and from a refused origin, fetch()ing POST /api/mail on the API's origin.

Host names are mapped to 127.0.0.1 inside Chromium (``--host-resolver-rules``); the page
and the API are two local HTTP servers on two ports, so every call is cross-origin.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.api.app import ApiDeps, create_app
from shared.db.keys import create_key
from shared.db.tables import messages
from tests.support.browser import chromium, serving

#: The sites the page is served from, all on this machine.
ARGS = ("--host-resolver-rules=MAP allowed.example 127.0.0.1, "
        "MAP www.allowed.example 127.0.0.1, MAP refused.example 127.0.0.1",)
PAGE = b"<!doctype html><html><head><title>contact form</title></head><body></body></html>"
#: What the page runs: the fureweb post as a web site sends it, and what the page could read.
FETCH = """async ([url, body]) => {
  try {
    const answer = await fetch(url, {method: "POST", body: JSON.stringify(body),
                                     headers: {"Content-Type": "application/json"}});
    return {read: true, status: answer.status, body: await answer.json()};
  } catch (error) {
    return {read: false, error: error.name + ": " + error.message};
  }
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium(*ARGS) as browser:
        yield browser


@pytest.fixture
def api(settings, engine, broker, redis):
    """The API on its own origin; ``seen`` lists the (method, path) of every request."""
    app = create_app(ApiDeps(settings, engine, broker, redis))
    seen: list[tuple[str, str]] = []

    def recorded(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return app(environ, start_response)

    with serving(recorded) as port:
        yield f"http://127.0.0.1:{port}", seen


@pytest.fixture
def page_port():
    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [PAGE]

    with serving(site) as port:
        yield port


@pytest.fixture
def site_key(engine):
    with engine.begin() as conn:
        return create_key(conn, "web site", ["allowed.example"])[1]


def post_from(browser, origin: str, api_url: str, key: str) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{origin}/contact")
        return page.evaluate(FETCH, [f"{api_url}/api/mail", {
            "isSync": False, "key": key, "from": "noreply@allowed.example",
            "to": ["someone@example.net"], "cc": [], "title": "문의", "content": "<p>hi</p>"}])
    finally:
        context.close()


def stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(messages)).scalar_one()


@pytest.mark.parametrize("host", ["allowed.example", "www.allowed.example"])
def test_page_on_the_keys_domain_reads_the_answer(browser, api, page_port, site_key, engine,
                                                  host):
    api_url, seen = api
    got = post_from(browser, f"http://{host}:{page_port}", api_url, site_key)
    assert got == {"read": True, "status": 200, "body": {"code": 200, "message": "OK"}}
    assert seen == [("OPTIONS", "/api/mail"), ("POST", "/api/mail")]  # preflighted
    assert stored(engine) == 1


def test_page_on_a_refused_origin_cannot_send(browser, api, page_port, site_key, engine):
    api_url, seen = api
    got = post_from(browser, f"http://refused.example:{page_port}", api_url, site_key)
    assert not got["read"] and got["error"].startswith("TypeError"), got
    # The preflight was refused, so the browser never sent the POST.
    assert seen == [("OPTIONS", "/api/mail")]
    assert stored(engine) == 0
