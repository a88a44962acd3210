"""The fleet's sending pause, the truth of it: one ``sending_pause`` row while SES
refuses to send for the account.

A sender that gets an account-level answer (expired or wrong credentials, a
bad signature or clock, a missing permission, a paused or suspended account)
writes the row (``pause_sending``) and the Redis mirror the senders read
(shared.rate.pause). The scheduler probes the account on a backoff
(``take_probe``, then SES GetAccount) and deletes the row when the account
answers and may send (``resume_sending``); until then it keeps the mirror
set from this row, so a flushed Redis does not lift the pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Float

from shared.runtime.backoff import backoff_delay


@dataclass(frozen=True)
class Pause:
    reason: str
    paused_at: datetime
    probes: int
    next_probe_at: datetime


_PAUSE = text(
    """
    INSERT INTO sending_pause (id, reason, paused_at, probes, next_probe_at)
    VALUES (1, :reason, now(), 0, now() + make_interval(secs => :first_probe))
    ON CONFLICT (id) DO UPDATE SET reason = EXCLUDED.reason
    RETURNING (xmax = 0) AS created
    """
)


def pause_sending(conn: Connection, reason: str, *, first_probe: float) -> bool:
    """Pause the fleet for ``reason``; True if it was not paused already.

    One upsert: senders refused at once all write it, the first creates the
    row (its probe due in ``first_probe`` s), the others only update the
    reason, so the probe's backoff is not reset by every refusal.
    """
    return conn.execute(_PAUSE, {"reason": reason, "first_probe": first_probe}).scalar_one()


def sending_pause(conn: Connection) -> Pause | None:
    """The pause in force, or None."""
    row = conn.execute(text("SELECT reason, paused_at, probes, next_probe_at "
                            "FROM sending_pause WHERE id = 1")).first()
    return Pause(*row) if row else None


_TAKE_PROBE = text(
    """
    UPDATE sending_pause
       SET probes = probes + 1,
           -- :delays[n] is the wait after probe n; past the end, the last.
           next_probe_at = now() + make_interval(
               secs => (:delays)[least(probes + 1, cardinality(:delays))])
     WHERE id = 1 AND next_probe_at <= now()
    RETURNING reason, paused_at, probes, next_probe_at
    """
).bindparams(bindparam("delays", type_=ARRAY(Float)))


def take_probe(conn: Connection, *, base: float, cap: float) -> Pause | None:
    """The pause, if its probe is due and this caller takes it (else None).

    One conditional UPDATE (two schedulers: one probes) that also schedules
    the next probe, ``base`` doubling per probe up to ``cap`` seconds
    (shared.runtime.backoff's formula, handed to the statement as the list
    of its delays), so a probe that fails, or a scheduler that dies
    mid-probe, only waits for it.
    """
    delays = [backoff_delay(n, base=base, cap=cap) for n in range(1, 32)]
    row = conn.execute(_TAKE_PROBE, {"delays": delays}).first()
    return Pause(*row) if row else None


def resume_sending(conn: Connection) -> str | None:
    """Lift the pause; returns its reason, or None if the fleet was not paused."""
    return conn.execute(text("DELETE FROM sending_pause WHERE id = 1 RETURNING reason")
                        ).scalar_one_or_none()
