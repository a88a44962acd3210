"""SIGTERM: every process stops taking work, hands back what it holds, exits in time."""

from __future__ import annotations

import email
import signal
import time
from collections import Counter

import requests
from sqlalchemy import text

from services.up import Stack
from tests.support.stack import running_stack, settings_env, wait_for

EXIT_WITHIN = 35.0


def sent_ids(outbox) -> Counter:
    """X-Mailpipe-Id of every message the file transport wrote."""
    return Counter(
        email.message_from_bytes(path.read_bytes())["X-Mailpipe-Id"]
        for path in outbox.glob("*.eml")
    )


def stop_and_time(stack: Stack, name: str) -> float:
    process = stack.processes[name]
    started = time.monotonic()
    stack.signal(name, signal.SIGTERM)
    process.wait(EXIT_WITHIN + 5)
    return time.monotonic() - started


def test_sigterm_mid_run_loses_nothing_and_sends_nothing_twice(
    settings, engine, api_key, tmp_path
):
    slow = settings.model_copy(update={"send_rate": 40.0})
    with running_stack(settings_env(slow), tmp_path / "logs", processes=2, threads=4) as (
        stack, url
    ):
        answer = requests.post(
            f"{url}/v1/messages", headers={"x-api-key": api_key[1]},
            json={"messages": [{"topicId": "t", "subject": "s", "content": "<p>c</p>",
                                "emails": [f"u{i}@example.net" for i in range(200)]}]},
            timeout=30)
        assert answer.status_code == 200
        wait_for(lambda: len(sent_ids(slow.file_dir)) >= 40, 30, "sending to start")

        assert stop_and_time(stack, "sender") < EXIT_WITHIN
        assert stop_and_time(stack, "scheduler") < EXIT_WITHIN
        assert stop_and_time(stack, "recorder") < EXIT_WITHIN
        assert stop_and_time(stack, "api") < EXIT_WITHIN
        assert len(sent_ids(slow.file_dir)) < 200, "the sender should have stopped mid-run"

        stack.restart_dead()  # everything again, as a supervisor would

        states: dict[str, int] = {}

        def done() -> bool:
            with engine.connect() as conn:
                states.clear()
                states.update(conn.execute(text(
                    "SELECT state, count(*) FROM messages GROUP BY 1")).all())
            return states.get("sent", 0) + states.get("unknown", 0) == 200
        try:
            wait_for(done, 90, "every message to be sent after the restart")
        except AssertionError as exc:  # say where the rows were left, for whoever reads it
            raise AssertionError(f"{exc}: rows by state {states}, logs in {tmp_path}") from None
    counts = sent_ids(slow.file_dir)
    assert max(counts.values()) == 1, "a message was sent twice"
    with engine.connect() as conn:
        unknown = conn.execute(text("SELECT count(*) FROM messages WHERE state = 'unknown'")
                               ).scalar_one()
    assert unknown == 0  # a graceful stop leaves no send in doubt
    assert len(counts) == 200
