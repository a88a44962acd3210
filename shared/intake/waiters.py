"""Synchronous sends: wait until the recorder has committed an outcome.

The recorder publishes the new states of a batch's changed rows after its
transaction commits; a waiting request subscribes first and reads the rows
once, so an outcome committed between the insert and the subscription is
not missed, and after that it sleeps on the subscription instead of polling
PostgreSQL.

Redis key layout:

    mailpipe:outcomes   pub/sub channel; one message per committed batch,
                        ``<id>=<state>`` pairs separated by spaces. One
                        PUBLISH per batch, not per row: at thousands of
                        outcomes a second the recorder's Redis calls per row
                        were a tenth of its time, and waiters are few
                        (capped per process, services.api.sync).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine

from shared.db.envelopes import SendResult, send_results
from shared.states import FINAL

log = logging.getLogger("mailpipe.waiters")

CHANNEL = "mailpipe:outcomes"


def encode_states(changed: dict[int, str]) -> str:
    return " ".join(f"{message_id}={state}" for message_id, state in changed.items())


def decode_states(data: bytes) -> dict[int, str]:
    pairs = (pair.partition("=") for pair in data.decode().split())
    return {int(message_id): state for message_id, _, state in pairs}


def publish_states(redis: Redis, changed: dict[int, str]) -> None:
    """Announce committed states; call only after the commit. Best effort.

    A lost announcement only makes a waiting request answer 202 when its
    wait runs out: the row itself is already right.
    """
    if not changed:
        return
    try:
        redis.publish(CHANNEL, encode_states(changed))
    except RedisError as exc:
        log.warning("could not announce %d outcomes to synchronous callers: %s",
                    len(changed), exc)


def wait_until_final(
    redis: Redis, read_states: Callable[[list[int]], dict[int, str]], ids: Iterable[int],
    timeout: float,
) -> bool:
    """True once every id is in a final state, False if ``timeout`` seconds pass first.

    The rows are read once, after Redis confirmed every subscription: an
    outcome announced before that was committed before it, so the read sees
    it; one announced after reaches us. If Redis fails the wait ends early
    with False: the caller answers as for a timeout.
    """
    pending = set(ids)
    if not pending:
        return True
    deadline = time.monotonic() + timeout
    pubsub = redis.pubsub()
    try:
        pubsub.subscribe(CHANNEL)
        confirmed = False
        while not confirmed:
            message = _next(pubsub, deadline)
            if message is None:
                return False
            confirmed = message["type"] == "subscribe"
            _settle(message, pending)
        pending -= {i for i, state in read_states(sorted(pending)).items()
                    if state in FINAL}
        while pending:
            message = _next(pubsub, deadline)
            if message is None:
                return False
            _settle(message, pending)
        return True
    except RedisError as exc:
        log.warning("synchronous wait interrupted, answering as not finished: %s", exc)
        return False
    finally:
        pubsub.close()


def _next(pubsub, deadline: float) -> dict | None:
    """The next pub/sub message, or None once the deadline has passed."""
    while (remaining := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(timeout=remaining)
        if message is not None:
            return message
    return None


def _settle(message: dict, pending: set[int]) -> None:
    """Drop from ``pending`` the ids the message announces in a final state."""
    if message["type"] == "message":
        pending.difference_update(message_id for message_id, state
                                  in decode_states(message["data"]).items() if state in FINAL)


def wait_for_results(
    engine: Engine, redis: Redis, ids: list[int], timeout: float
) -> tuple[bool, dict[int, SendResult]]:
    """Wait up to ``timeout`` for every id to finish; (all finished?, each row's result)."""

    def read_states(pending: list[int]) -> dict[int, str]:
        with engine.connect() as conn:
            return {i: r.state for i, r in send_results(conn, pending).items()}

    done = wait_until_final(redis, read_states, ids, timeout)
    with engine.connect() as conn:
        return done, send_results(conn, ids)
