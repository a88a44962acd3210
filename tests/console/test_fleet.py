"""The dashboard's fleet reads: what a store that does not answer leaves unknown."""

from __future__ import annotations

from types import SimpleNamespace

import redis as redis_lib

from services.console.fleet import read_fleet
from shared.runtime.heartbeat import beat
from shared.runtime.localservers import free_port
from tests.support.stored_messages import store_messages


def test_the_fleet_as_redis_and_postgresql_report_it(settings, engine, redis, api_key):
    store_messages(engine, api_key[0].id, ["a@example.com"], state="unknown")
    beat(redis, "sender", 1.0, host="h", pid=3)
    fleet = read_fleet(SimpleNamespace(engine=engine, redis=redis, settings=settings))
    assert fleet.database.ok and fleet.redis.ok and fleet.database.ms >= 0
    assert [p.pid for p in fleet.processes["sender"]] == [3]
    assert fleet.missing == ["api", "scheduler", "recorder"]  # no smtp is no fault: 0..n
    assert fleet.attention == {"unknown": 1, "failed": 0}
    assert fleet.queues["mailpipe.send"] == (0, 0)
    assert fleet.rate.mode == "fixed" and fleet.rate.limit == settings.send_rate * 0.985
    assert fleet.oldest_queued == 0.0 and fleet.pause is None


def test_without_redis_its_figures_are_unknown_not_zero(settings, engine):
    down = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.2)
    fleet = read_fleet(SimpleNamespace(engine=engine, redis=down, settings=settings))
    assert not fleet.redis.ok and fleet.redis.error == "ConnectionError"
    assert fleet.queues is None and fleet.rate is None and fleet.processes == {}
    assert fleet.missing == []  # not known, so not said
    assert fleet.database.ok and fleet.attention == {"unknown": 0, "failed": 0}


def test_a_beating_smtp_process_is_listed_and_none_is_not_missing(settings, engine, redis):
    for kind in ("api", "scheduler", "sender", "recorder"):
        beat(redis, kind, 1.0, host="h", pid=1)
    deps = SimpleNamespace(engine=engine, redis=redis, settings=settings)
    fleet = read_fleet(deps)
    assert fleet.processes["smtp"] == [] and fleet.missing == []
    assert "smtp" in fleet.optional_kinds
    beat(redis, "smtp", 1.0, host="h", pid=9)
    assert [p.pid for p in read_fleet(deps).processes["smtp"]] == [9]
