"""A message's states, in one place: the enum, its sets and the seed status codes.

```
created ──► queued ──► sending ──► sent ──► delivered | bounced | complained
   │           │          │  └───► failed      (permanent error, or attempts spent)
   │           │          └──────► unknown     (lease ran out mid-send: outcome not known)
   │           │          └──────► queued      (provably unsent: throttled, connect refused)
   └───────────┴─────────────────► cancelled | suppressed
```

SQL takes states as bind parameters (``state = ANY(:states)`` with one of the
sets below), never as literals, so this module is the only spelling. Partial
index predicates are the one exception: PostgreSQL needs them as constants,
and they are built from these members (``sql_list``).
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"

    @property
    def code(self) -> int:
        """The seed systems' numeric ``statusCode``."""
        return STATUS_CODES[self]


S = MessageState

#: Not claimed by any sender yet: the scheduler may dispatch them, a caller
#: may still cancel them.
UNCLAIMED = frozenset({S.CREATED, S.QUEUED})
CANCELLABLE = UNCLAIMED
#: Still on its way: a campaign or a topic with such rows is not finished.
PENDING = frozenset({S.CREATED, S.QUEUED, S.SENDING})
#: Nothing more will happen to the send attempt: a synchronous caller has
#: its answer. (``queued`` after a retry is not final; ``sent`` may still
#: become delivered/bounced/complained, but the send itself is over.)
FINAL = frozenset(set(S) - PENDING)
#: The provider accepted the message (and maybe reported more since).
ACCEPTED = frozenset({S.SENT, S.DELIVERED, S.BOUNCED, S.COMPLAINED})

#: Seed-compatible ``statusCode``: 0 created, 1 processing, 2 sent (and
#: later), 3 failed (or suppressed), 4 stopped (cancelled).
STATUS_CODES: dict[MessageState, int] = {
    S.CREATED: 0,
    S.QUEUED: 1, S.SENDING: 1, S.UNKNOWN: 1,
    S.SENT: 2, S.DELIVERED: 2, S.BOUNCED: 2, S.COMPLAINED: 2,
    S.FAILED: 3, S.SUPPRESSED: 3,
    S.CANCELLED: 4,
}


class CampaignStatus(StrEnum):
    """What an operator may do to a campaign; its phase (scheduled, expanding,
    sending, completed) is derived from counts."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


def sql_list(states) -> str:
    """``'a', 'b'`` for a constant SQL predicate (partial indexes, CHECK constraints)."""
    members = list(type(next(iter(states))))
    return ", ".join(f"'{s.value}'" for s in sorted(states, key=members.index))


#: ``state`` compared in the "C" collation (the same answer for these ASCII
#: names): for statements that find their rows by id and only re-check the
#: state. Under another collation than the column's, the planner can neither
#: prove a partial index's state predicate from the check nor use an index on
#: state, so these statements always go through the primary key. Otherwise,
#: with statistics taken while nothing was queued (the usual case: most rows
#: are long sent), it reads the queued rows through a partial index it
#: believes nearly empty: with a campaign window of 20,000 queued rows, every
#: claim of 50 read all 20,000 (measured: 75 µs of PostgreSQL per claimed row).
BY_ID_STATE = 'state COLLATE "C"'
