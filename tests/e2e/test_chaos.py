"""The short chaos run: every process kind SIGKILLed, Redis flushed and restarted
empty, PostgreSQL restarted, and still no message sent twice or lost.

The harness is bench/chaos.py's; this form sends 600 messages with short
timeouts and runs on its own PostgreSQL and Redis (it restarts them), with
SES played by tests/support/fake_ses.py counting deliveries per recipient.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from bench.chaos import KILLS, ChaosConfig, run_chaos, verdict
from tests.support.fake_ses import SECRETS, ScriptedSes


def ses_stats(ses: ScriptedSes) -> dict:
    deliveries = Counter(address.lower() for body in list(ses.accepted)
                         for address in body["Destination"]["ToAddresses"])
    duplicates = {a: n for a, n in deliveries.items() if n > 1}
    return {
        "requests": ses.requests,
        "sent": len(ses.accepted),
        "throttled": 0,
        "unique_recipients": len(deliveries),
        "duplicates": sum(n - 1 for n in duplicates.values()),
        "duplicate_examples": dict(itertools.islice(duplicates.items(), 10)),
    }


@pytest.fixture
def ses(monkeypatch):
    # The run signs with its own credentials (bench/chaos.py's): SES must know
    # them, or every send is refused (once failed, now pausing the fleet).
    monkeypatch.setitem(SECRETS, "chaos", "chaos")
    ses = ScriptedSes()
    yield ses
    ses.close()


@pytest.fixture
def work():
    """Not tmp_path: pytest runs elsewhere on the machine prune old tmp_path folders,
    and PostgreSQL's data folder must outlive its restart."""
    path = Path(tempfile.mkdtemp(prefix="mailpipe-chaos-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(240)
def test_nothing_is_sent_twice_or_lost_while_processes_and_servers_die(ses, work):
    config = ChaosConfig(
        messages=600, per_request=20, send_rate=60, post_rate=50,
        sender_processes=2, sender_threads=3, api_workers=2,
        kill_rounds=1, redis_faults=("flush", "restart"), postgres_restart=True,
        postgres_down_seconds=2, queue_timeout=5, send_lease=10, heartbeat_ms=3000,
        drain_timeout=90, seed=3,
    )
    report = run_chaos(config, work, ses.url, lambda: ses_stats(ses), progress=print)

    assert report["duplicates"] == 0, report["ses"]["duplicate_examples"]
    assert report["lost"] == 0, report["lost_examples"]
    assert report["accepted"] == 600, report["producer_refused"]
    # `unknown` only for rows a fault caught mid-send, never anything else.
    assert report["unknown_not_in_flight_at_a_fault"] == 0
    assert report["unknown"] <= report["in_flight_at_faults"]
    # No process died but those killed: no crash, no crash loop.
    assert report["exits_not_caused_by_a_kill"] == []
    assert verdict(report) == []
    assert len(report["faults"]) == len(KILLS) + 2 + 1
    # Each process group killed was started again by the harness, as a supervisor would.
    assert set(report["restarts"]) == {"sender", "recorder", "scheduler", "api"}
    # Every row recorded sent was delivered (once), and every row was sent
    # but those a fault left unknown: nothing refused, nothing failed.
    assert report["states"].get("sent", 0) <= report["delivered_exactly_once"]
    assert report["states"].get("sent", 0) + report["unknown"] == 600, report["states"]
