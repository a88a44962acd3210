"""`mailpipe api` as operators run it (gunicorn, mailpipe's worker and logger): slow
clients, synchronous waits beyond their caps, and what the access log leaves out."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests

from bench.slowloris import run as slowloris
from services.up import Stack
from shared.db.keys import create_key
from shared.rendering.tracking import Kind, Tracker
from shared.runtime.localservers import free_port
from tests.scheduler.test_dispatch import make_messages
from tests.support.stack import settings_env, wait_for_http

RAW_SECRET = "raw-delivery-secret-5d1c"
SECRET_KEY = "tracking-key-for-gunicorn-tests"


@contextmanager
def api_only(settings, log_dir, **env):
    """Only `mailpipe api` (one worker, as `mailpipe up` runs it): nobody sends or records."""
    port = free_port()
    stack = Stack(settings_env(settings, **env), log_dir=log_dir)
    stack.start("api", "api", "--bind", f"127.0.0.1:{port}", "--workers", "1")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/health")
        yield url
    finally:
        stack.stop_all()


def test_clients_stalling_in_their_headers_do_not_stop_the_api(settings, engine, tmp_path):
    with api_only(settings, tmp_path / "logs") as url:
        # 4x the worker's 8 threads, stalled mid-headers, and some mid-body.
        heads = slowloris(url, 32, 4, timeout=3)
        bodies = slowloris(url, 16, 3, body=50_000, timeout=3)
    for result in (heads, bodies):
        assert result["stalled_opened"] >= result["connections"], result
        assert result["timeouts"] == 0 and result["max_ms"] < 1000, result


def test_sync_waits_beyond_the_caps_answer_202_at_once(settings, engine, tmp_path):
    with engine.begin() as conn:
        _, first = create_key(conn, "first", [])
        _, second = create_key(conn, "second", [])
    body = {"messages": [{"topicId": "sync", "emails": ["a@example.net"], "subject": "Hi",
                          "content": "<p>Hello</p>"}]}
    env = {"MAILPIPE_SYNC_WAITS_PER_PROCESS": "4", "MAILPIPE_SYNC_WAITS_PER_KEY": "2"}

    def send(key: str) -> tuple[int, float]:
        started = time.monotonic()
        answer = requests.post(url + "/v1/messages", params={"wait": 3}, json=body,
                               headers={"x-api-key": key}, timeout=20)
        return answer.status_code, time.monotonic() - started

    with api_only(settings, tmp_path / "logs", **env) as url, ThreadPoolExecutor(10) as pool:
        waits = [pool.submit(send, key) for key in [first] * 6 + [second] * 3]
        time.sleep(0.8)
        started = time.monotonic()
        health = requests.get(url + "/health", timeout=5)
        health_s = time.monotonic() - started
        results = [w.result() for w in waits]
    assert health.status_code == 200 and health_s < 1.0, health_s
    assert {status for status, _ in results} == {202}
    held = [took >= 2.5 for _, took in results]
    # Two per key, four in all, waited their 3 s; the other five answered at once.
    assert held[:6].count(True) == 2 and held[6:].count(True) == 2, results
    quick = [took for _, took in results if took < 2.5]
    assert len(quick) == 5 and max(quick) < 1.5, results


def test_access_log_leaves_query_secrets_out(settings, engine, api_key, tmp_path):
    [message_id] = make_messages(engine, api_key[0].id, 1)
    tracker = Tracker(SECRET_KEY, "http://mail.example.com")
    tokens = [tracker.token(Kind.OPEN, message_id), tracker.token(Kind.UNSUBSCRIBE, message_id),
              tracker.token(Kind.CLICK, message_id, "https://example.com/")]
    env = {"MAILPIPE_SNS_RAW_SECRET": RAW_SECRET, "MAILPIPE_SECRET_KEY": SECRET_KEY}
    with api_only(settings, tmp_path / "logs", **env) as url:
        sns = requests.post(url + "/v1/events/results", params={"token": RAW_SECRET},
                            data=b'{"notificationType": "Delivery"}', timeout=5)
        opened = requests.get(url + "/v1/events/open", params={"t": tokens[0]}, timeout=5)
        page = requests.get(url + "/v1/unsubscribe", params={"t": tokens[1]}, timeout=5,
                            headers={"Referer": f"{url}/v1/unsubscribe?t={tokens[1]}"})
        clicked = requests.get(url + "/v1/events/click", params={"t": tokens[2]}, timeout=5,
                               allow_redirects=False)
        hours = requests.get(url + "/v1/events/counts/sent", params={"hours": 3}, timeout=5,
                             headers={"x-api-key": api_key[1]})
    assert sns.status_code < 500 and opened.status_code == 200 and page.status_code == 200
    assert clicked.status_code == 302
    assert hours.status_code == 200
    log = (tmp_path / "logs" / "api.log").read_text()
    # The parameter names stay; their values are redacted (by the access logger,
    # then again by the scrubber every log line passes).
    assert re.search(r"GET /v1/events/open\?t=(-|\[redacted\]) ", log)
    assert re.search(r"POST /v1/events/results\?token=(-|\[redacted\]) ", log)
    assert "GET /v1/events/counts/sent?hours=3 " in log  # harmless values stay readable
    for secret in (RAW_SECRET, *tokens):
        assert secret not in log
