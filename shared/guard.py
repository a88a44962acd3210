"""The reputation guard: hard-bounce and complaint rates per key and topic, and the pauses
they cause, before SES puts the account under review (docs/guard.md).

The recorder calls ``ReputationGuard.observe`` in the transaction that records a batch
of outcomes or events: it counts what the batch sent, hard-bounced and complained per
scope (shared.db.guard), judges the scopes it touched over their two windows (the last
N sends and the last 24 hours, each only once it holds ``min_sends``), and pauses
those past a pause level, with a ``key.paused`` or ``topic.paused`` outbound event
(shared.db.outbox) in the same transaction. After the commit, ``announce`` logs
what changed.

Which scope pauses, for a key:

- its transactional mail past a pause level: the whole key;
- else its campaign mail past one: its campaigns only (transactional mail flows);
- else the two together past one (neither alone had the sample): the whole key.

And a topic past one pauses that topic (unless its whole key is paused). A paused
scope's messages stay ``queued``: the senders' claim skips them (shared.db.claims),
nothing is lost, and an operator's resume (``resume``) makes them due again.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from shared.broker.payloads import EventType
from shared.db import guard as db
from shared.db.audit import Actor, record
from shared.db.events import StoredEvent
from shared.db.guard import GuardLevel, GuardPause, ScopeFigures
from shared.db.outbox import OutboundEvent, emit
from shared.db.tables.guard import TRAFFIC
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.settings import Settings
from shared.webhooks.events import OutboundEventType

log = logging.getLogger("mailpipe.guard")

OK, WARN, PAUSE = GuardLevel.OK, GuardLevel.WARN, GuardLevel.PAUSE
_RANK = {OK: 0, WARN: 1, PAUSE: 2}


@dataclass(frozen=True)
class Levels:
    """The rates that warn and pause, and the sample a window needs before either."""

    bounce_warn: float
    bounce_pause: float
    complaint_warn: float
    complaint_pause: float
    min_sends: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Levels:
        return cls(settings.guard_bounce_warn, settings.guard_bounce_pause,
                   settings.guard_complaint_warn, settings.guard_complaint_pause,
                   settings.guard_min_sends)

    def for_key(self, own: tuple[float | None, ...]) -> Levels:
        """These levels with the key's own (bounce warn, bounce pause, complaint warn,
        complaint pause; None: this one's) in their place."""
        mine = (self.bounce_warn, self.bounce_pause, self.complaint_warn, self.complaint_pause)
        return Levels(*(o if o is not None else m for o, m in zip(own, mine, strict=True)),
                      self.min_sends)


@dataclass(frozen=True)
class Verdict:
    """What one scope's figures say: ``level`` and, past ok, which rate in which window."""

    level: str
    reason: str | None = None
    #: reason, window ("recent" or "day"), sent, hard_bounced, complained, rate, threshold
    figures: dict = field(default_factory=dict)


def judge(scope: ScopeFigures, levels: Levels) -> Verdict:
    """The worst of the scope's two windows; a window below ``min_sends`` says nothing."""
    worst = Verdict(OK)
    for window, (sent, hard, complained) in (("recent", scope.recent), ("day", scope.day)):
        if sent < levels.min_sends:
            continue
        for reason, n, warn, pause in (
                ("bounce", hard, levels.bounce_warn, levels.bounce_pause),
                ("complaint", complained, levels.complaint_warn, levels.complaint_pause)):
            rate = n / sent
            level = PAUSE if rate >= pause else WARN if rate >= warn else OK
            if _RANK[level] > _RANK[worst.level]:
                worst = Verdict(level, reason, {
                    "reason": reason, "window": window, "sent": round(sent, 1),
                    "hard_bounced": round(hard, 1), "complained": round(complained, 1),
                    "rate": round(rate, 6),
                    "threshold": pause if level == PAUSE else warn})
    return worst


def decide(verdicts: dict[tuple[int, str, str], Verdict]) -> list[dict]:
    """The pauses ``verdicts`` (by scope: key id, topic id, traffic) call for, as rows of
    shared.db.guard.pause (see the module docstring for the rules)."""
    pauses = []
    whole_key = set()
    for key in sorted({k for k, _, _ in verdicts}):
        mine = {traffic: v for (k, topic, traffic), v in verdicts.items()
                if k == key and topic == ""}
        transactional, campaign, total = (mine.get(t, Verdict(OK)) for t in
                                          ("transactional", "campaign", "all"))
        if transactional.level == PAUSE:
            pauses.append(_row(key, "", False, transactional))
            whole_key.add(key)
        elif campaign.level == PAUSE:
            pauses.append(_row(key, "", True, campaign))
        elif total.level == PAUSE:
            pauses.append(_row(key, "", False, total))
            whole_key.add(key)
    for (key, topic, _), verdict in sorted(verdicts.items()):
        if topic and verdict.level == PAUSE and key not in whole_key:
            pauses.append(_row(key, topic, False, verdict))
    return pauses


def _row(key: int, topic: str, campaigns_only: bool, verdict: Verdict) -> dict:
    return {"api_key_id": key, "topic_id": topic, "campaigns_only": campaigns_only,
            "reason": verdict.reason, "figures": verdict.figures}


@dataclass
class Observation:
    """What one batch changed: pauses put in force, scopes that came to warn level (from
    either side) or fell back below it."""

    paused: list[GuardPause] = field(default_factory=list)
    warned: list[dict] = field(default_factory=list)
    cleared: list[dict] = field(default_factory=list)


def feedback_counts(events: Iterable[StoredEvent]) -> dict[int, tuple[int, int]]:
    """{message id: (hard bounced, complained)} of ``events``, once per message."""
    counts: dict[int, tuple[int, int]] = {}
    for e in events:
        if e.message_id is None:
            continue
        hard = int(e.type == EventType.BOUNCED and e.detail == "hard")
        complained = int(e.type == EventType.COMPLAINED)
        if hard or complained:
            h, c = counts.get(e.message_id, (0, 0))
            counts[e.message_id] = (max(h, hard), max(c, complained))
    return counts


def _deltas(conn: Connection, sent: Iterable[tuple[int, str, int | None]],
            feedback: Iterable[StoredEvent]) -> dict[db.Scope, list[int]]:
    """{scope: [sent, hard bounced, complained]} of a batch (its bounces' and complaints'
    messages read for their scopes)."""
    deltas: dict[db.Scope, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, topic, campaign in sent:
        for scope in db.scopes(key, topic, campaign is not None):
            deltas[scope][0] += 1
    counts = feedback_counts(feedback)
    for message_id, found in db.messages_scopes(conn, sorted(counts)).items():
        for scope in found:
            deltas[scope][1] += counts[message_id][0]
            deltas[scope][2] += counts[message_id][1]
    return deltas


class ReputationGuard:
    """The recorder's guard: ``observe`` in its transactions, ``announce`` after commit."""

    def __init__(self, levels: Levels, window: int) -> None:
        self.levels, self.window = levels, window

    @classmethod
    def from_settings(cls, settings: Settings) -> ReputationGuard:
        return cls(Levels.from_settings(settings), settings.guard_window)

    def observe(self, conn: Connection, *, sent: Iterable[tuple[int, str, int | None]] = (),
                feedback: Iterable[StoredEvent] = ()) -> Observation:
        """Count ``sent`` messages ((key id, topic id, campaign id) each, as
        shared.db.outcomes.apply_outcomes hands them) and the hard bounces and complaints
        among ``feedback``, judge the scopes touched and pause those past a pause level.

        Call with ``EVENTS_LOCK`` held (shared.db.guard.count)."""
        deltas = _deltas(conn, sent, feedback)
        touched = db.count(conn, deltas, window=self.window)
        feedback_came = any(h or c for _, h, c in deltas.values())
        if not feedback_came:
            # Sends alone only lower rates: nothing can pause; only a scope past a
            # warning may fall back below it (most batches judge nothing).
            scopes = {scope for scope, level in touched.items() if level != OK}
        else:
            # A key's decision reads all three of its whole-key scopes.
            scopes = set(touched) | {(k, "", t) for k, _, _ in touched for t in TRAFFIC}
        if not scopes:
            return Observation()
        verdicts, seen = {}, Observation()
        changed = []
        for scope in db.figures(conn, sorted(scopes)):
            verdict = judge(scope, self.levels.for_key(scope.key_levels))
            where = (scope.api_key_id, scope.topic_id, scope.traffic)
            verdicts[where] = verdict
            if verdict.level != scope.level:
                row = {"api_key_id": where[0], "topic_id": where[1], "traffic": where[2],
                       "level": verdict.level, "figures": verdict.figures or None}
                changed.append(row)
                if verdict.level == WARN:
                    seen.warned.append(row)
                elif verdict.level == OK:
                    seen.cleared.append(row)
        db.set_levels(conn, changed)
        if feedback_came:
            seen.paused = db.pause(conn, decide(verdicts))
            emit(conn, [paused_event(p) for p in seen.paused])
        return seen

    def announce(self, seen: Observation) -> None:
        """Log what ``observe`` changed (after its transaction committed)."""
        for p in seen.paused:
            log.error("reputation guard: %s paused, %s", describe(p.api_key_id, p.topic_id,
                      "campaign" if p.campaigns_only else "all"), _figures(p.figures))
        for row in seen.warned:
            log.warning("reputation guard: %s at warn level, %s",
                        describe(row["api_key_id"], row["topic_id"], row["traffic"]),
                        _figures(row["figures"]))
        for row in seen.cleared:
            log.info("reputation guard: %s back below its warn levels",
                     describe(row["api_key_id"], row["topic_id"], row["traffic"]))


def paused_event(p: GuardPause) -> OutboundEvent:
    """The outbound ``key.paused`` (the key, or its campaigns) or ``topic.paused`` event."""
    return OutboundEvent(
        OutboundEventType.TOPIC_PAUSED if p.topic_id else OutboundEventType.KEY_PAUSED,
        p.api_key_id, p.paused_at,
        {"keyId": p.api_key_id, "topicId": p.topic_id or None, "scope": p.scope,
         "reason": p.reason, "pausedAt": p.paused_at.isoformat(), "figures": p.figures},
        topic_id=p.topic_id or None)


def describe(api_key_id: int, topic_id: str, traffic: str) -> str:
    """A scope in words: 'key 3', 'key 3's campaigns', 'topic "news" of key 3'."""
    if topic_id:
        return f'topic "{topic_id}" of key {api_key_id}'
    return {"all": f"key {api_key_id}", "campaign": f"key {api_key_id}'s campaigns",
            "transactional": f"key {api_key_id}'s transactional mail"}[traffic]


def _figures(figures: dict) -> str:
    measure = "hard-bounce" if figures["reason"] == "bounce" else "complaint"
    window = "the last 24 hours" if figures["window"] == "day" else "its recent sends"
    return (f"{measure} rate {figures['rate']:.2%} (level {figures['threshold']:.2%}) over "
            f"{window}: "
            f"{figures['sent']:g} sent, {figures['hard_bounced']:g} hard bounces, "
            f"{figures['complained']:g} complaints")


def resume(conn: Connection, api_key_id: int, topic_id: str | None, *, actor: Actor
           ) -> list[GuardPause]:
    """Lift the key's pauses (every one, or its topic's), audited as ``key.resume`` in the
    caller's transaction; their held messages are dispatched again, each sent once."""
    resumed = db.resume(conn, api_key_id, topic_id, by=actor.name)
    for p in resumed:
        scope = describe(p.api_key_id, p.topic_id, "campaign" if p.campaigns_only else "all")
        record(conn, actor, "key.resume", f"key {p.api_key_id}",
               before={"scope": p.scope, "topic": p.topic_id or None, "reason": p.reason,
                       "pausedAt": p.paused_at.isoformat(), "figures": p.figures},
               after={"resumedAt": p.resumed_at.isoformat()})
        log.warning("reputation guard: %s resumed by %s (paused since %s for its %s rate)",
                    scope, actor.name, f"{p.paused_at:%Y-%m-%d %H:%M:%S}", p.reason)
    return resumed


#: The levels a key may set, in ``Levels``' order, as forms and the audit log name them.
LEVEL_NAMES = ("bounce_warn", "bounce_pause", "complaint_warn", "complaint_pause")


def change_key_levels(conn: Connection, api_key_id: int, levels: dict[str, float | None], *,
                      fleet: Levels, actor: Actor) -> Levels | None:
    """Set the key's own levels (``levels``: by ``LEVEL_NAMES``, None for the setting's;
    those not named stay); returns the levels now in force for it, or None when there is no
    such key. InvalidRequest when a level is not a rate above 0 and at most 1, or a warning
    is not below its pause level (as in force, with the settings). Audited as
    ``key.guard``, in the caller's transaction."""
    before = db.key_levels(conn, api_key_id, lock=True)
    if before is None:
        return None
    after = tuple(_level(levels[n], n) if n in levels else b
                  for n, b in zip(LEVEL_NAMES, before, strict=True))
    in_force = fleet.for_key(after)
    for measure in ("bounce", "complaint"):
        warn, pause = getattr(in_force, f"{measure}_warn"), getattr(in_force, f"{measure}_pause")
        if warn >= pause:
            raise InvalidRequest("invalid_guard_level", Text(
                "the warning level (%(warn)s) must be below the pause level (%(pause)s)",
                warn=format(warn, "g"), pause=format(pause, "g")), field=f"{measure}_warn")
    if after != before:
        db.store_key_levels(conn, api_key_id, after)
        record(conn, actor, "key.guard", f"key {api_key_id}",
               before=dict(zip(LEVEL_NAMES, before, strict=True)),
               after=dict(zip(LEVEL_NAMES, after, strict=True)))
    return in_force


def _level(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise InvalidRequest("invalid_guard_level", Text(
            "a level is a rate above 0 and at most 1, like 0.04; leave it empty for the "
            "setting's"), field=name)
    return float(value)
