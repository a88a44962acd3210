"""Synchronous sends on the native API: ``POST /v1/messages?wait=SECONDS``.

The request answers 200 once the recorder has committed every message's
outcome (sent, failed, unknown, …), woken through Redis (shared.intake.waiters),
or 202 as usual when the wait runs out first: the messages are still sent.
"""

from __future__ import annotations

import falcon

from shared.db.envelopes import SendResult
from shared.errors import InvalidRequest
from shared.intake.waiters import wait_for_results
from shared.settings import Settings
from shared.states import MessageState as S

#: A synchronous request subscribes one Redis channel per message: keep it small.
MAX_SYNC_MESSAGES = 100


def wait_param(req: falcon.Request, settings: Settings, recipients: int) -> float | None:
    """Seconds to wait, from ``?wait=``; None when absent. Checked before anything is stored."""
    raw = req.get_param("wait")
    if raw is None:
        return None
    if recipients > MAX_SYNC_MESSAGES:
        raise InvalidRequest("invalid_wait",
                             f"wait: a synchronous request may have at most {MAX_SYNC_MESSAGES} "
                             f"recipients, not {recipients}", field="wait")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= settings.max_sync_wait:
        raise InvalidRequest("invalid_wait",
                             f"wait: seconds between 0 and {settings.max_sync_wait:g}",
                             field="wait")
    return seconds


def answer_when_done(deps, resp: falcon.Response, ids: list[int], seconds: float) -> None:
    """Turn the 202 in ``resp`` into a 200 with outcomes if they come within ``seconds``."""
    done, results = wait_for_results(deps.engine, deps.redis, ids, seconds)
    if not done:
        return
    resp.status = falcon.HTTP_200
    for item in resp.media["messages"]:
        item.update(_outcome(results[item["id"]]))


def _outcome(result: SendResult) -> dict:
    return {"status": result.state, "statusCode": S(result.state).code,
            "providerMessageId": result.provider_message_id, "error": result.error}
