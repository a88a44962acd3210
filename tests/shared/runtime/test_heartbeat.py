"""Processes say they are alive in Redis; a silent one drops out within the TTL."""

from __future__ import annotations

import logging
import time

import redis as redis_lib

from shared.runtime import heartbeat
from shared.runtime.heartbeat import INDEX, Heartbeat, alive, beat
from shared.runtime.localservers import free_port
from tests.support.stack import wait_for


def test_a_beating_process_is_listed_with_its_kind_host_and_start(redis):
    beat(redis, "sender", 1000.0, host="h1", pid=7)
    beat(redis, "api", 2000.0, host="h2", pid=8)
    [api, sender] = alive(redis)
    assert (api.kind, api.host, api.pid, api.started) == ("api", "h2", 8, 2000.0)
    assert (sender.kind, sender.host, sender.pid) == ("sender", "h1", 7)
    assert time.time() - sender.beat < 5


def test_a_process_that_stops_beating_drops_out_and_leaves_the_index(redis):
    beat(redis, "recorder", time.time(), host="h", pid=1, ttl=1)
    beat(redis, "scheduler", time.time(), host="h", pid=2)
    time.sleep(1.2)
    assert [a.kind for a in alive(redis)] == ["scheduler"]
    assert redis.smembers(INDEX) == {b"mailpipe:alive:scheduler:h:2"}


def test_the_thread_beats_until_stopped_then_removes_its_key(redis):
    beating = Heartbeat(redis, "sender", interval=0.05).start()
    try:
        first = wait_for(lambda: alive(redis), 5, "the first beat")[0].beat
        time.sleep(0.3)
        [me] = alive(redis)
        assert me.kind == "sender" and me.beat > first
    finally:
        beating.stop()
    assert alive(redis) == []


def test_without_redis_the_beat_is_logged_once_and_the_process_goes_on(caplog):
    down = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.2)
    beating = Heartbeat(down, "recorder")
    with caplog.at_level(logging.WARNING, logger=heartbeat.log.name):
        beating.step()
        beating.step()
    assert len(caplog.records) == 1
    assert "cannot reach Redis" in caplog.records[0].getMessage()
