"""The sender's claim of message rows: claim, renew, release.

A claim moves ``queued`` rows to ``sending`` for one worker with a lease
(``claim_for_sending``, which also returns everything a send needs); the
sender renews the leases of the rows it still holds (``renew_claims``) and
hands back the ones it did not send (``release_claims``). Each is one
conditional statement on (id, attempt, worker): a row that is no longer
this claim's is simply not touched, and the caller learns so from what
comes back. What becomes of a sent row is shared.db.outcomes'; a lease that
ran out, shared.db.sweeps'.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, Integer

from shared.db.attachments import load_attachments
from shared.db.guard import NOT_PAUSED
from shared.db.messages import ClaimedMessage
from shared.intake.attachments import Attachment
from shared.runtime.cache import MISSING, BoundedCache
from shared.states import BY_ID_STATE
from shared.states import MessageState as S
from shared.transports.base import Relay

log = logging.getLogger("mailpipe.sender")


#: What a claim returns of each row it took (``_claimed`` reads them by position).
_ROW = """id, attempts, api_key_id, content_id, from_addr, to_addr, extra_to_addrs, cc_addrs,
          bcc_addrs, mime_message_id, smtp_relay_id, variables, to_name, extra_names,
          topic_id"""

#: Each row of ``claimed`` with what a send needs besides its content's parts.
_SEND_PARTS = """
    SELECT m.id, m.attempts, m.from_addr, m.to_addr, m.extra_to_addrs, m.cc_addrs,
           m.bcc_addrs, m.mime_message_id,
           -- Further To, Cc and Bcc on the key's suppression list: left out of the send.
           ARRAY(SELECT a FROM unnest(m.extra_to_addrs || m.cc_addrs || m.bcc_addrs) AS a
                  WHERE EXISTS (SELECT 1 FROM suppressions s
                                 WHERE s.api_key_id = m.api_key_id AND s.address = lower(a))
                ) AS left_out,
           m.content_id, c.created_at AS content_created_at, m.variables,
           r.id AS relay_id, r.url AS relay_url, r.username AS relay_username,
           r.password_encrypted AS relay_password, m.to_name, m.extra_names,
           m.api_key_id, m.topic_id, k.ses_configuration_set
      FROM claimed m
      JOIN contents c ON c.id = m.content_id  -- its created_at only: the parts are cached
      JOIN api_keys k ON k.id = m.api_key_id  -- its configuration set (SES tags the send)
      LEFT JOIN smtp_relays r ON r.id = m.smtp_relay_id
     ORDER BY m.id
"""

_CLAIM_FOR_SENDING = text(
    f"""
    WITH claimed AS (
        UPDATE messages
           SET state = '{S.SENDING}',
               attempts = attempts + 1,
               lease_until = now() + make_interval(secs => :lease),
               worker_id = :worker_id,
               updated_at = now()
         WHERE id = ANY(:ids) AND {BY_ID_STATE} = '{S.QUEUED}'
           AND {NOT_PAUSED}
        RETURNING {_ROW}
    )
    {_SEND_PARTS}
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

#: One row as a claim would hand it to a sender, claiming nothing (``as_claimed``).
_AS_CLAIMED = text(f"WITH claimed AS (SELECT {_ROW} FROM messages WHERE id = :id) {_SEND_PARTS}")

_CONTENTS = text(
    """
    SELECT c.id, c.created_at, c.subject, c.html, c.text, c.reply_to, c.headers, c.tracking, c.bulk,
           c.template_version IS NOT NULL AS templated,
           EXISTS (SELECT 1 FROM content_attachments ca WHERE ca.content_id = c.id)
               AS has_attachments,
           c.raw_mime
      FROM contents c
     WHERE c.id = ANY(:ids)
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


@dataclass(frozen=True)
class ContentParts:
    """What a claimed row shares with every row of its content."""

    subject: str
    html: str
    text: str | None
    reply_to: str | None
    headers: tuple[tuple[str, str], ...]
    tracking: bool
    bulk: bool
    #: Made from a template: each row's values fill it in.
    templated: bool
    has_attachments: bool
    #: A message submitted over SMTP, as submitted (``contents.raw_mime``).
    raw: bytes | None = None


class ContentCache:
    """Contents already read, by id: a sender reads a campaign's content once, not per row.

    A content's parts do not change while any of its messages is unsent
    (retention blanks only contents whose messages are all finished), and a
    claimed row is unsent, so a part read once stays true for every later
    claim. Kept under (id, created_at), since a database restored or emptied
    under a running sender hands out the same ids again. At most ``size``
    contents and ``max_chars`` characters of their HTML and text are kept (a
    content may be megabytes), the oldest read dropped first.
    """

    def __init__(self, size: int = 256, max_chars: int = 32 * 1024 * 1024) -> None:
        self._parts = BoundedCache(size, max_chars)

    def parts(self, conn: Connection, keys: set[tuple[int, datetime]]
              ) -> dict[tuple[int, datetime], ContentParts]:
        """The parts of each content of ``keys`` (id, created_at), reading only those
        not held yet."""
        found = {k: p for k in keys if (p := self._parts.get(k)) is not MISSING}
        missing = sorted(i for i, _ in keys - found.keys())
        if missing:
            for id_, created_at, subject, html, text_, reply_to, headers, *flags in (
                    conn.execute(_CONTENTS, {"ids": missing})):
                parts = ContentParts(subject, html, text_, reply_to,
                                     tuple(map(tuple, headers)) if headers else (), *flags)
                found[id_, created_at] = parts
                size = len(html) + len(text_ or "") + len(parts.raw or b"")
                self._parts.put((id_, created_at), parts, size)
        return found


def claim_for_sending(
    conn: Connection, ids: list[int], *, worker_id: str, lease: float,
    contents: ContentCache | None = None,
) -> list[ClaimedMessage]:
    """Claim the ``queued`` rows among ``ids`` for this worker; return only those won.

    One conditional UPDATE: a row another sender claimed first, or that was
    cancelled or already sent, is not ``queued`` and is simply not returned,
    so a redelivered or duplicated queue message sends nothing twice. A row the
    reputation guard holds (its key, campaigns or topic paused: shared.db.guard) is
    left ``queued`` and not returned; the resume makes it due again.
    ``attempts`` is bumped here and identifies this claim in the outcome.

    The statement returns each row's own parts: recipients (those on the
    key's suppression list left out), template values, relay. What rows
    share, their content, is read once per content (``contents``, kept by a
    sender across claims): a campaign's HTML is not copied out of
    PostgreSQL once per recipient. Attachment bytes come from one more
    query for the whole claim, only when a claimed content has files: a
    blob shared by every recipient is read (and held) once, not once per row.
    """
    rows = conn.execute(_CLAIM_FOR_SENDING,
                        {"ids": ids, "worker_id": worker_id, "lease": lease}).all()
    if not rows:
        return []
    parts = (contents or ContentCache()).parts(conn, {row[_CONTENT_KEY] for row in rows})
    files = load_attachments(conn, sorted(i for (i, _), p in parts.items()
                                          if p.has_attachments))
    return [_claimed(row, parts, files) for row in rows]


def as_claimed(conn: Connection, message_id: int) -> ClaimedMessage | None:
    """Message ``message_id`` as a claim would hand it to a sender (None: no such row),
    claiming nothing: what the console renders "as sent" with the sender's own composer
    (shared.rendering.preview). Its further recipients on the suppression list today are
    left out, as a send now would; ``attempt`` is the attempts made so far. A plain read."""
    row = conn.execute(_AS_CLAIMED, {"id": message_id}).one_or_none()
    if row is None:
        return None
    parts = ContentCache(size=1).parts(conn, {row[_CONTENT_KEY]})
    content = next(iter(parts.values()))
    files = load_attachments(conn, [row.content_id]) if content.has_attachments else {}
    return _claimed(row, parts, files)


#: Where the claim's rows hold (content_id, content_created_at), read by position.
_CONTENT_KEY = slice(9, 11)


def _claimed(row, parts: dict[int, ContentParts],
             files: dict[int, tuple[Attachment, ...]]) -> ClaimedMessage:
    # Unpacked by position, in the claim's column order: a Row's attribute
    # access costs ~2 us each, a tenth of a bulk recipient's whole send.
    (id_, attempts, from_addr, to_addr, extra_to, cc, bcc, mime_message_id, left_out,
     content_id, content_created_at, variables, relay_id, relay_url, relay_username,
     relay_password, to_name, extra_names, api_key_id, topic_id, configuration_set) = row
    content = parts[content_id, content_created_at]
    if left_out:
        log.info("message %d: %s left out of the send: on the key's suppression list",
                 id_, ", ".join(left_out))
        extra_to, cc, bcc = (tuple(a for a in addresses if a not in left_out)
                             for addresses in (extra_to, cc, bcc))
    relay = (Relay(relay_id, relay_url, relay_username, relay_password)
             if relay_id is not None else None)
    return ClaimedMessage(
        id=id_, attempt=attempts, from_addr=from_addr, to_addr=to_addr,
        subject=content.subject, html=content.html, text=content.text,
        reply_to=content.reply_to, content_id=content_id,
        content_created_at=content_created_at,
        extra_to=tuple(extra_to), cc=tuple(cc), bcc=tuple(bcc),
        mime_message_id=mime_message_id, headers=content.headers,
        attachments=files.get(content_id, ()), relay=relay,
        # A templated content always gets values (empty if missing), so the
        # renderer refuses the row rather than mailing {{name}} out.
        variables=(variables or {}) if content.templated else None,
        tracking=content.tracking, bulk=content.bulk,
        api_key_id=api_key_id, topic_id=topic_id, configuration_set=configuration_set,
        to_name=to_name, extra_names=extra_names,
        raw=bytes(content.raw) if content.raw is not None else None,
    )


_RENEW_CLAIMS = text(
    f"""
    UPDATE messages
       SET lease_until = now() + make_interval(secs => :seconds)
      FROM unnest(:ids, :attempts) AS h(id, attempt)
     WHERE messages.id = h.id AND messages.attempts = h.attempt
       AND {BY_ID_STATE} = '{S.SENDING}' AND worker_id = :worker_id
    RETURNING messages.id
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)),
             bindparam("attempts", type_=ARRAY(Integer)))


def renew_claims(
    conn: Connection, held: list[tuple[int, int]], *, worker_id: str, seconds: float
) -> set[int]:
    """Extend the leases of the rows this worker holds to ``seconds`` from now; returns
    the ids still held.

    ``held``: (id, attempt) of each claim. One conditional UPDATE: only a row
    still ``sending`` under this claim (same worker, same attempt) is
    extended; one whose lease ran out (swept to ``unknown``), or that is
    anyone else's now, is not returned, and must not be sent. Row locks are
    those of the claim's own rows (no other writer touches a ``sending`` row
    but the recorder, with this claim's outcome, and the lease sweep).
    """
    if not held:
        return set()
    ids, attempts = zip(*held, strict=True)
    rows = conn.execute(_RENEW_CLAIMS, {"ids": list(ids), "attempts": list(attempts),
                                        "worker_id": worker_id, "seconds": seconds})
    return {r.id for r in rows}


_RELEASE_CLAIMS = text(
    f"""
    UPDATE messages
       SET state = '{S.QUEUED}', attempts = attempts - 1, lease_until = NULL,
           worker_id = NULL, updated_at = now(),
           error = CASE WHEN {BY_ID_STATE} = '{S.UNKNOWN}'
                        THEN 'handed back unsent by its sender after its lease ran out'
                        ELSE error END
      FROM unnest(:ids, :attempts) AS h(id, attempt)
     WHERE messages.id = h.id AND messages.attempts = h.attempt
       AND {BY_ID_STATE} IN ('{S.SENDING}', '{S.UNKNOWN}')
       AND worker_id = :worker_id
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)),
             bindparam("attempts", type_=ARRAY(Integer)))


def release_claims(conn: Connection, held: list[tuple[int, int]], *, worker_id: str) -> int:
    """Give back every claim this worker holds and did not send: back to ``queued``, unsent.

    ``held``: (id, attempt) of each claim. Conditional on the claim still
    being this one (same worker, same attempt), ``sending`` or, if its lease
    ran out first, ``unknown``: the sender knows it never sent it, so it is
    not left for an operator to guess about. The attempt is undone, since
    nothing was sent. ``due_at`` is left as dispatch set it, so the scheduler
    re-enqueues them only if their queue message is lost.
    """
    if not held:
        return 0
    ids, attempts = zip(*held, strict=True)
    return conn.execute(_RELEASE_CLAIMS, {"ids": list(ids), "attempts": list(attempts),
                                          "worker_id": worker_id}).rowcount
