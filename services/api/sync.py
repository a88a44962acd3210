"""Synchronous sends on the native API: ``POST /v1/messages?wait=SECONDS``.

The request answers 200 once the recorder has committed every message's
outcome (sent, failed, unknown, …), woken through Redis (shared.intake.waiters),
or 202 as usual when the wait runs out first: the messages are still sent.

A waiting request holds one of the API process's few threads, so waits are
capped per process and per key (``SyncSlots``): a request beyond the cap
answers at once, as it would without a wait. ``wait_capped`` is the one
entry for every synchronous send (native ``?wait=`` and fureweb ``isSync``).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import falcon

from shared.db.envelopes import SendResult, send_results
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.waiters import wait_for_results
from shared.settings import Settings
from shared.states import MessageState as S

#: A synchronous request subscribes one Redis channel per message: keep it small.
MAX_SYNC_MESSAGES = 100
#: ``float()`` also reads ``١``, `` 1``, ``1_0``, ``1e1`` and ``nan``: seconds are ASCII decimals.
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def wait_param(req: falcon.Request, settings: Settings, recipients: int) -> float | None:
    """Seconds to wait, from ``?wait=``; None when absent. Checked before anything is stored."""
    raw = req.get_param("wait")
    if raw is None:
        return None
    if recipients > MAX_SYNC_MESSAGES:
        raise InvalidRequest("invalid_wait", Text(
            "wait: a synchronous request may have at most %(max)s recipients, not %(count)s",
            max=MAX_SYNC_MESSAGES, count=recipients), field="wait")
    seconds = float(raw) if isinstance(raw, str) and _SECONDS.fullmatch(raw) else -1.0
    if not 0 < seconds <= settings.max_sync_wait:
        raise InvalidRequest("invalid_wait", Text("wait: seconds between 0 and %(max)g",
                                                  max=settings.max_sync_wait), field="wait")
    return seconds


class SyncSlots:
    """How many synchronous waits this process holds: at most ``per_process``, ``per_key`` each."""

    def __init__(self, per_process: int, per_key: int) -> None:
        self.per_process, self.per_key = per_process, per_key
        self._lock = threading.Lock()
        self._held: Counter[int] = Counter()

    @contextmanager
    def slot(self, key_id: int) -> Iterator[bool]:
        """Yields True with a slot held for ``key_id``, False when the caps are reached."""
        with self._lock:
            granted = (self._held.total() < self.per_process
                       and self._held[key_id] < self.per_key)
            if granted:
                self._held[key_id] += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._held[key_id] -= 1
                    if not self._held[key_id]:
                        del self._held[key_id]


def wait_capped(deps, key_id: int, ids: list[int], seconds: float
                ) -> tuple[bool, dict[int, SendResult]]:
    """``wait_for_results`` within the caps; (False, the rows as they are) at once beyond them."""
    with deps.guards.sync_slots.slot(key_id) as granted:
        if granted:
            return wait_for_results(deps.engine, deps.redis, ids, seconds)
    with deps.engine.connect() as conn:
        return False, send_results(conn, ids)


def answer_when_done(deps, resp: falcon.Response, key_id: int, ids: list[int],
                     seconds: float) -> None:
    """Turn the 202 in ``resp`` into a 200 with outcomes if they come within ``seconds``."""
    done, results = wait_capped(deps, key_id, ids, seconds)
    if not done:
        return
    resp.status = falcon.HTTP_200
    for item in resp.media["messages"]:
        item.update(_outcome(results[item["id"]]))


def _outcome(result: SendResult) -> dict:
    return {"status": result.state, "statusCode": S(result.state).code,
            "providerMessageId": result.provider_message_id, "error": result.error}
