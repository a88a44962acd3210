"""A sender's claims: a row swept from under its sender is not sent, and every row held
unsent goes back to ``queued``, even one the sweep already made ``unknown``."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.sender.claims import Claims
from shared.db.sweeps import expire_leases
from shared.errors import ClaimLost
from tests.scheduler.test_dispatch import make_messages


def run_out_lease(engine, message_id: int) -> None:
    """The lease of ``message_id`` runs out and the scheduler's sweep takes it."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET lease_until = now() - interval '1 second' "
                          "WHERE id = :id"), {"id": message_id})
        assert expire_leases(conn, limit=10) == [message_id]


def states(engine) -> dict[int, tuple[str, int]]:
    with engine.connect() as conn:
        return {r.id: (r.state, r.attempts) for r in conn.execute(
            text("SELECT id, state, attempts FROM messages ORDER BY id"))}


def test_a_row_swept_from_its_live_sender_is_not_sent(engine, api_key):
    ids = make_messages(engine, api_key[0].id, 2)
    claims = Claims(engine, "w", lease=60)
    claims.claim(ids)
    swept, kept = claims.held
    run_out_lease(engine, swept.id)
    claims.expires = 0.0  # half the lease gone: the next cover renews

    with pytest.raises(ClaimLost):
        claims.cover([swept])
    assert [m.id for m in claims.held] == [kept.id]  # not this thread's to send or hand back
    claims.cover([kept])  # still its own, lease renewed
    assert states(engine) == {swept.id: ("unknown", 1), kept.id: ("sending", 1)}


def test_every_row_held_unsent_goes_back_queued_even_one_swept_to_unknown(engine, api_key):
    ids = make_messages(engine, api_key[0].id, 3)
    claims = Claims(engine, "w", lease=60)
    claims.claim(ids)
    claims.sent({ids[0]})
    run_out_lease(engine, ids[1])

    assert claims.release() == 2
    assert not claims
    # The sent row is the recorder's; the two never sent are queued, attempts undone.
    assert states(engine) == {ids[0]: ("sending", 1), ids[1]: ("queued", 0),
                              ids[2]: ("queued", 0)}
