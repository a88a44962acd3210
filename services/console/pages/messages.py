"""Messages: every door's messages, filtered and paged; one message as sent; requeue.

The list is ``shared.db.message_list`` (its recipient filter reads the
search's indexes, shared.db.message_search). A message's page is
``shared.db.message_details``, and its body is rendered by the sender's own
composer (``shared.db.claims.as_claimed``, ``shared.rendering.preview``);
the HTML is served to a sandboxed frame by its own route, whose
Content-Security-Policy loads nothing but inline styles and ``data:``
images, so a tracking pixel or a remote image in it never fires.

Requeue calls ``shared.db.sweeps.requeue``, the function behind
``mailpipe requeue`` (the same rules, recorded in the audit log in the same
transaction), for admins only, after a confirmation that says what it risks
(``REQUEUE_RISKS``: an ``unknown`` message may be sent twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import falcon

from services.console.web import ROOT, Page, PageNotFound, form, redirect
from services.maintenance import REQUEUE_BATCH  # a filtered requeue's transactions, as the CLI's
from shared.db.claims import as_claimed
from shared.db.keys import list_keys
from shared.db.message_details import FileFacts, MessageDetails, TimelineEvent, message_details
from shared.db.message_list import (
    MessageFilter,
    count_matching,
    list_messages,
    matching_ids,
)
from shared.db.messages import message_states
from shared.db.sweeps import REQUEUE_RISKS, requeue
from shared.i18n import Text, ntext
from shared.rendering.preview import as_sent, framed
from shared.rendering.tracking import tracker_for
from shared.sources import MessageSource
from shared.states import MessageState as S

#: The list's time windows, by the ``period`` parameter ("range": ``since`` and ``until``).
PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}
RANGE = "range"
#: The states an operator may requeue (``shared.db.sweeps.requeue``'s rule).
REQUEUEABLE = (S.UNKNOWN, S.FAILED)
#: A chosen message's checkbox is named ``m<id>``: a console form keeps one value a name.
PICK = "m"
#: Messages one requeue may name one by one (a page holds fewer).
MOST_PICKED = 500

#: The body's frame: nothing loads but inline styles and data: images; no script, no
#: form, no plugin, opaque origin (``sandbox``) even if the URL is opened on its own.
BODY_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
            "form-action 'none'; frame-ancestors 'self'; sandbox")


@dataclass(frozen=True)
class ListQuery:
    """The list's filter as read from a request, and the raw values to write back."""

    wanted: MessageFilter
    values: dict[str, str] = field(default_factory=dict)

    def url(self, **extra) -> str:
        """The list at this filter (``extra`` added: a page's ``before``, a notice)."""
        params = {k: v for k, v in {**self.values, **extra}.items() if v not in ("", None)}
        return f"{ROOT}/messages" + (f"?{urlencode(params)}" if params else "")

    def resolved(self) -> dict[str, str]:
        """The filter with its period as the moments it stood for (what a confirmation
        carries, so a requeue later acts on the window that was shown)."""
        w = self.wanted
        values = {name: self.values.get(name, "") for name in ("state", "topic", "key",
                                                                "source", "q")}
        if w.since or w.until:
            values.update(period=RANGE, since=w.since.isoformat() if w.since else "",
                          until=w.until.isoformat() if w.until else "")
        return values


def read_list_query(get: Callable[[str], str | None], now: datetime) -> ListQuery:
    """The filter in query parameters or form fields (``get``); 400 for a value that
    names nothing (a state, source or period that does not exist, a key that is not a
    number, a moment without a date)."""
    values = {name: (get(name) or "").strip() for name in
              ("state", "topic", "key", "source", "q", "period", "since", "until")}
    state, source, period = values["state"], values["source"], values["period"]
    if state and state not in set(S):
        raise falcon.HTTPInvalidParam("no such state", "state")
    if source and source not in set(MessageSource):
        raise falcon.HTTPInvalidParam("no such source", "source")
    if period and period not in PERIODS and period != RANGE:
        raise falcon.HTTPInvalidParam("use 1h, 24h, 7d, 30d or range", "period")
    key = values["key"]
    if key and not (key.isascii() and key.isdigit() and len(key) <= 18):
        raise falcon.HTTPInvalidParam("a key id is a number", "key")
    since = until = None
    if period in PERIODS:
        since = now - PERIODS[period]
    elif period == RANGE:
        since, until = _moment(values["since"], "since"), _moment(values["until"], "until")
    wanted = MessageFilter(state=state or None, topic_id=values["topic"] or None,
                           api_key_id=int(key) if key else None, source=source or None,
                           recipient=values["q"], since=since, until=until)
    if period != RANGE:
        values["since"] = values["until"] = ""
    return ListQuery(wanted, values)


def _moment(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise falcon.HTTPInvalidParam("an ISO 8601 date and time", name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MessagesPage(Page):
    """``GET /ui/messages``: the newest messages of every key and door, filtered, paged by
    ``before`` (the last id of the page before)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = read_list_query(req.get_param, datetime.now(UTC))
        before = req.get_param_as_int("before", min_value=1, max_value=2**63 - 1)
        is_admin = req.context.session.user.role == "admin"
        with self.console.engine.connect() as conn:
            page = list_messages(conn, query.wanted, before=before)
            keys = list_keys(conn)
            # What "requeue every match" would take: asked only of a requeueable state,
            # whose rows the state's index holds (few, however large the table).
            matching = (count_matching(conn, query.wanted)
                        if is_admin and query.wanted.state in REQUEUEABLE else None)
        self.console.render(
            req, resp, "messages.html", query=query, page=page, before=before, keys=keys,
            states=list(S), sources=list(MessageSource), periods=[*PERIODS, RANGE],
            matching=matching, requeueable=REQUEUEABLE, pick=PICK,
            notice=_requeued_notice(req))


def _requeued_notice(req: falcon.Request) -> Text | None:
    done = req.get_param_as_int("requeued", min_value=0)
    if done is None:
        return None
    left = req.get_param_as_int("left", min_value=0) or 0
    text = ntext("%(num)s message requeued: the scheduler sends it on its next tick.",
                 "%(num)s messages requeued: the scheduler sends them on its next tick.", done)
    if left:
        return Text("%(done)s %(left)s", done=text, left=ntext(
            "%(num)s was not: its state changed meanwhile, or retention removed its content.",
            "%(num)s were not: their state changed meanwhile, or retention removed their "
            "content.", left))
    return text


class MessagePage(Page):
    """``GET /ui/messages/{id}``: the message as sent (From, To with names, subject,
    headers, text, files; the HTML in a frame) and its timeline."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, message_id: int) -> None:
        with self.console.engine.connect() as conn:
            details = message_details(conn, message_id)
            claimed = as_claimed(conn, message_id) if details else None
        if details is None:
            raise PageNotFound(Text("There is no message %(id)s.", id=message_id),
                               back=f"{ROOT}/messages")
        sent, problem = None, None
        if details.pruned_at is None:
            try:
                sent = as_sent(claimed, tracker_for(self.console.settings),
                               sent_at=details.sent_at)
            except Exception as exc:  # noqa: BLE001 - shown as the sender would record it
                problem = str(exc)
        if sent is not None and claimed.raw is not None:
            # Submitted over SMTP: its files are in its own bytes, not in the content's rows.
            details = replace(details, files=tuple(
                FileFacts(a.filename, a.content_type, len(a.data), a.inline)
                for a in sent.composed.attachments))
        headers = dict((name.lower(), value) for name, value in sent.headers) if sent else {}
        self.console.render(req, resp, "message.html", message=details, sent=sent,
                            headers=headers, problem=problem, timeline=timeline(details),
                            requeueable=REQUEUEABLE, pick=PICK, notice=_requeued_notice(req))


def timeline(message: MessageDetails) -> list[TimelineEvent]:
    """The message's moments in time order: stored, scheduled (when later), accepted by the
    provider, what the provider and its readers reported, and an unknown or failed end
    (with its error)."""
    steps = [TimelineEvent("created", message.created_at, None, False)]
    if message.scheduled_at > message.created_at:
        steps.append(TimelineEvent("scheduled", message.scheduled_at, None, False))
    if message.sent_at is not None:
        steps.append(TimelineEvent("accepted", message.sent_at, None, False))
    steps.extend(message.events)
    if message.state in REQUEUEABLE:
        steps.append(TimelineEvent(message.state, message.updated_at, message.error, False))
    return sorted(steps, key=lambda step: step.occurred_at)  # stable: ties keep this order


class MessageBody(Page):
    """``GET /ui/messages/{id}/body``: the HTML part as sent, for the message page's
    sandboxed frame (``BODY_CSP``: nothing remote loads, no script runs)."""

    csp = BODY_CSP
    frame_options = "SAMEORIGIN"

    def on_get(self, req: falcon.Request, resp: falcon.Response, message_id: int) -> None:
        with self.console.engine.connect() as conn:
            claimed = as_claimed(conn, message_id)
        if claimed is None:
            raise PageNotFound(Text("There is no message %(id)s.", id=message_id),
                               back=f"{ROOT}/messages")
        try:
            composed = as_sent(claimed, tracker_for(self.console.settings),
                               sent_at=None).composed
            html, files = composed.html or "", composed.attachments
        except Exception:  # noqa: BLE001 - the message page says why
            html, files = "", ()
        resp.content_type = "text/html; charset=utf-8"
        resp.text = framed(html, files)


def _back(path: str) -> str:
    """Where a requeue returns: the list (with its filters) or a message's page, never
    anywhere else."""
    if path.startswith(f"{ROOT}/messages") and ".." not in path and "\\" not in path \
            and all(" " < c for c in path):
        return path
    return f"{ROOT}/messages"


@dataclass(frozen=True)
class Selection:
    """What a requeue would take: chosen messages by state, or every match of a filter."""

    by_state: dict[str, list[int]]
    #: Chosen messages that cannot be requeued (not unknown or failed, or gone).
    refused: list[int]
    #: A filter's selection: the filter, and the newest id it took when confirmed.
    query: ListQuery | None = None
    upto: int | None = None
    total: int = 0

    @property
    def states(self) -> list[str]:
        return [s for s in REQUEUEABLE if self.by_state.get(s)] if self.query is None \
            else [self.query.wanted.state]


class RequeueAction(Page):
    """``POST /ui/messages/requeue``: chosen messages (``m<id>`` fields) or every match of
    the list's filter (``scope=filter``, its state unknown or failed). Without
    ``confirmed``, the confirmation: how many, and what requeueing each state risks."""

    roles = {"POST": "admin"}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = form(req)
        back = _back(data.get("back", ""))
        with self.console.engine.connect() as conn:
            selection = self._selection(conn, data)
        if data.get("confirmed") != "1" or not selection.total:
            self.console.render(req, resp, "requeue_confirm.html", selection=selection,
                                risks={s: Text(REQUEUE_RISKS[s]) for s in selection.states},
                                back=back, pick=PICK)
            return
        done = self._requeue(selection, self.console.actor(req))
        outcome = urlencode({"requeued": done, "left": selection.total - done})
        raise redirect(f"{back}{'&' if '?' in back else '?'}{outcome}")

    def _selection(self, conn, data: dict[str, str]) -> Selection:
        if data.get("scope") == "filter":
            query = read_list_query(data.get, datetime.now(UTC))
            if query.wanted.state not in REQUEUEABLE:
                raise falcon.HTTPInvalidParam("requeue takes unknown or failed messages",
                                              "state")
            query = read_list_query(query.resolved().get, datetime.now(UTC))
            upto = int(data["upto"]) if data.get("upto", "").isdigit() else None
            if upto is None:
                newest = matching_ids(conn, query.wanted, limit=1)
                upto = newest[0] if newest else None
            total = count_matching(conn, query.wanted, upto=upto) if upto else 0
            return Selection({}, [], query, upto, total)
        picked = sorted({int(name[len(PICK):]) for name in data if name.startswith(PICK)
                         and name[len(PICK):].isascii() and name[len(PICK):].isdigit()
                         and len(name) <= 20})
        if len(picked) > MOST_PICKED:
            raise falcon.HTTPInvalidParam(f"at most {MOST_PICKED} messages at once", "m")
        states = message_states(conn, picked) if picked else {}
        by_state = {s: [i for i in picked if states.get(i) == s] for s in REQUEUEABLE}
        refused = [i for i in picked if states.get(i) not in REQUEUEABLE]
        return Selection(by_state, refused, total=sum(map(len, by_state.values())))

    def _requeue(self, selection: Selection, actor) -> int:
        """Requeue what was confirmed; each transaction records its audit entry."""
        engine = self.console.engine
        if selection.query is None:
            with engine.begin() as conn:
                return sum(requeue(conn, state=state, ids=ids, actor=actor)
                           for state, ids in selection.by_state.items() if ids)
        wanted, done, before = selection.query.wanted, 0, None
        while True:
            with engine.begin() as conn:
                ids = matching_ids(conn, wanted, before=before, upto=selection.upto,
                                   limit=REQUEUE_BATCH)
                if ids:
                    done += requeue(conn, state=wanted.state, ids=ids, actor=actor)
            if len(ids) < REQUEUE_BATCH:
                return done
            before = ids[-1]

