"""``/``: a browser is sent to the console; an API client gets an index of where things are."""

from __future__ import annotations

from services.api.spec.build import version

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def test_a_browser_is_redirected_to_the_console(client):
    answer = client.simulate_get("/", headers={"Accept": BROWSER})
    assert answer.status_code == 302
    assert answer.headers["location"] == "/ui"
    assert "Accept" in answer.headers["vary"]


def test_a_client_asking_for_json_gets_an_index_of_the_service(client):
    answer = client.simulate_get("/", headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert answer.json == {"name": "mailpipe", "version": version(), "links": {
        "console": "/ui", "docs": "/docs", "openapi": "/openapi.json", "health": "/health"}}
    assert "Accept" in answer.headers["vary"]


def test_every_link_of_the_index_answers(client):
    links = client.simulate_get("/").json["links"]  # curl's */*: the index too
    for name, path in links.items():
        status = client.simulate_get(path).status_code
        assert status in (200, 302, 303), (name, path, status)  # the console asks to sign in


def test_an_unreadable_accept_header_gets_the_index_not_an_error(client):
    answer = client.simulate_get("/", headers={"Accept": "text/html;q=abc"})
    assert answer.status_code == 200 and answer.json["name"] == "mailpipe"
