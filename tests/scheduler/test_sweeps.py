"""Expired leases become unknown (never resent); an operator's requeue resends them."""

from __future__ import annotations

import subprocess
import sys
import time

from sqlalchemy import text

from services.scheduler.dispatch import dispatch_due
from services.scheduler.sweeps import sweep_expired_leases
from shared.db.audit import Actor, entries
from shared.db.claims import claim_for_sending
from shared.db.sweeps import requeue
from tests.scheduler.test_dispatch import make_messages
from tests.support.stack import settings_env


def claim(engine, ids, lease=60.0):
    with engine.begin() as conn:
        return claim_for_sending(conn, ids, worker_id="host:1:2", lease=lease)


def states(engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, state FROM messages")).all())


def test_expired_lease_becomes_unknown_and_is_not_dispatched(engine, broker, settings, api_key):
    ids = make_messages(engine, api_key[0].id, 2)
    claim(engine, ids[:1], lease=0.01)
    claim(engine, ids[1:], lease=600)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET due_at = now() - interval '1 hour'"))
    time.sleep(0.05)  # let the short lease run out
    sweep_expired_leases(engine)
    assert states(engine) == {ids[0]: "unknown", ids[1]: "sending"}
    assert not dispatch_due(engine, broker, settings)
    with engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM messages WHERE id = :i"),
                             {"i": ids[0]}).scalar_one()
    assert "lease expired" in error and "host:1:2" in error


def run_cli(settings, *args):
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**settings_env(settings), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )


def test_requeue_cli_resends_unknown_messages_of_one_topic(engine, settings, api_key):
    ids = make_messages(engine, api_key[0].id, 3)
    claim(engine, ids)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'unknown'"))
        conn.execute(text("UPDATE messages SET topic_id = 'other' WHERE id = :i"), {"i": ids[2]})
    result = run_cli(settings, "requeue", "--state", "unknown", "--topic", "t")
    assert result.returncode == 0, result.stderr
    assert "requeued 2 unknown messages" in result.stdout
    assert states(engine) == {ids[0]: "queued", ids[1]: "queued", ids[2]: "unknown"}
    # Requeued rows are due now and go out again through a normal claim.
    assert [m.id for m in claim(engine, ids)] == ids[:2]


def test_the_cli_records_each_requeue_in_the_audit_log_and_says_what_it_risks(
    engine, settings, api_key
):
    ids = make_messages(engine, api_key[0].id, 2)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'unknown'"))
    result = run_cli(settings, "requeue", "--state", "unknown", "--topic", "t")
    assert result.returncode == 0, result.stderr
    assert "may already have been delivered: requeueing it can send it twice" in result.stderr
    with engine.connect() as conn:
        [entry] = entries(conn, action="messages.requeue", limit=1)  # the newest
    assert entry.actor_kind == "cli" and "@" in entry.actor
    assert entry.target == "messages: topic t"
    assert entry.before == {"state": "unknown"}
    assert entry.after == {"state": "queued", "count": 2, "ids": ids}


def test_requeue_by_id_takes_only_those_rows_of_the_state(engine, api_key):
    ids = make_messages(engine, api_key[0].id, 4)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'failed'"))
        conn.execute(text("UPDATE messages SET state = 'sent' WHERE id = :i"), {"i": ids[1]})
        actor = Actor("console", "admin@local.example", "127.0.0.1")
        assert requeue(conn, state="failed", ids=ids[:2], actor=actor) == 1
        assert requeue(conn, state="failed", ids=[], actor=actor) == 0
    assert states(engine) == {ids[0]: "queued", ids[1]: "sent", ids[2]: "failed",
                              ids[3]: "failed"}
    with engine.connect() as conn:
        [entry] = entries(conn, action="messages.requeue", limit=1)  # the newest
    assert (entry.actor, entry.address, entry.target) == \
        ("admin@local.example", "127.0.0.1", f"message {ids[0]}")


def test_requeue_older_than_spares_recent_rows(engine, settings, api_key):
    ids = make_messages(engine, api_key[0].id, 2)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'unknown'"))
        conn.execute(text("UPDATE messages SET updated_at = now() - interval '3 hours' "
                          "WHERE id = :i"), {"i": ids[0]})
    result = run_cli(settings, "requeue", "--state", "unknown", "--older-than", "2h")
    assert "requeued 1 unknown" in result.stdout
    assert states(engine) == {ids[0]: "queued", ids[1]: "unknown"}


def test_requeue_rejects_a_bad_duration(settings):
    result = run_cli(settings, "requeue", "--state", "unknown", "--older-than", "soon")
    assert result.returncode == 2 and "use a number and s, m, h or d" in result.stderr
