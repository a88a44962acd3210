"""Accepting a compat-API message: one row whose single send reaches To, Cc and Bcc.

The Biz E-mail API and the fureweb mailer send one email per request, with
every recipient on one envelope, and name it by one id: unlike the native
API (one row per recipient), such a request is stored as one message row.
It still goes through the pipeline: stored, queued after the commit,
claimed, rate limited, sent, recorded.
"""

from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError
from sqlalchemy import Engine

from shared.broker.queues import enqueue_sends
from shared.db.envelopes import NewEnvelope, insert_envelope
from shared.db.keys import ApiKey
from shared.db.relays import save_relay
from shared.errors import Forbidden, InvalidRequest, PayloadTooLarge, TransportError
from shared.intake.addresses import address_of
from shared.intake.attachments import Attachment, check_total
from shared.secrets import SecretBox
from shared.settings import Settings
from shared.transports.guard import RelayRefused, check_relay_host
from shared.transports.smtp import SmtpUrlError, parse_smtp_url

log = logging.getLogger("mailpipe.compat")

#: SES takes at most 50 recipients (To, Cc and Bcc together) per message.
MAX_ENVELOPE_RECIPIENTS = 50
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class RelayRequest:
    """A tenant SMTP server named in the request (URL already normalised)."""

    url: str
    username: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EnvelopeRequest:
    topic_id: str
    from_addr: str | None
    to: tuple[str, ...]
    subject: str
    html: str
    text: str | None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    relay: RelayRequest | None = None


@dataclass(frozen=True)
class AcceptedEnvelope:
    id: int
    #: The Message-ID the email carries (without angle brackets).
    mime_message_id: str
    state: str


def new_message_id(sender: str, now: datetime | None = None) -> str:
    """``20220719041009.5nG5azdNMK66MuCV6GXi5x@domain``: the Biz API's id shape."""
    now = now or datetime.now(UTC)
    token = "".join(secrets.choice(_ALPHABET) for _ in range(22))
    domain = address_of(sender).rpartition("@")[2] or "mailpipe.invalid"
    return f"{now:%Y%m%d%H%M%S}.{token}@{domain}"


def _unique(to, cc, bcc) -> tuple[tuple[str, ...], ...]:
    """Each address once, in its first role (To before Cc before Bcc), any case."""
    seen: set[str] = set()
    out = []
    for group in (to, cc, bcc):
        kept = []
        for address in group:
            if address.lower() not in seen:
                seen.add(address.lower())
                kept.append(address)
        out.append(tuple(kept))
    return tuple(out)


def prepare_envelope(
    key: ApiKey, request: EnvelopeRequest, settings: Settings
) -> tuple[NewEnvelope, RelayRequest | None]:
    """Apply defaults and the key's rules; raise before anything is written."""
    sender = request.from_addr or settings.default_from
    if not sender:
        raise InvalidRequest("missing_field", "from: required, since MAILPIPE_DEFAULT_FROM "
                             "is not set", field="from")
    if not key.allows_sender(address_of(sender)):
        raise Forbidden("sender_not_allowed",
                        f"from: {address_of(sender)} is not in this key's allowed sender "
                        f"domains ({', '.join(key.allowed_domains)})", field="from")
    to, cc, bcc = _unique(request.to, request.cc, request.bcc)
    if not to:
        raise InvalidRequest("missing_field", "to: at least one recipient is required",
                             field="to")
    total = len(to) + len(cc) + len(bcc)
    if total > MAX_ENVELOPE_RECIPIENTS:
        raise PayloadTooLarge("too_many_recipients",
                              f"to, cc, bcc: {total} recipients; one message may have at most "
                              f"{MAX_ENVELOPE_RECIPIENTS}", field="to")
    check_total(request.attachments, settings.max_attachment_bytes)
    if request.relay is not None and not settings.tenant_smtp_private:
        check_relay(request.relay.url)
    envelope = NewEnvelope(
        topic_id=request.topic_id, from_addr=sender, to=to, cc=cc, bcc=bcc,
        subject=request.subject, html=request.html, text=request.text,
        reply_to=request.reply_to, headers=request.headers, attachments=request.attachments,
        mime_message_id=new_message_id(sender),
    )
    return envelope, request.relay


def check_relay(url: str) -> None:
    """Refuse (400, field ``smtp_url``) a tenant server that is not at a public address.

    The sender checks again before it connects (the name may resolve elsewhere
    by then); a name that does not resolve now is left to it, since DNS may
    answer later.
    """
    try:
        server = parse_smtp_url(url)
        check_relay_host(server.host, server.port)
    except SmtpUrlError as exc:
        raise InvalidRequest("invalid_smtp_url", f"smtp_url: {exc}", field="smtp_url") from None
    except RelayRefused as exc:
        raise InvalidRequest("relay_not_public", f"smtp_url: {exc}", field="smtp_url") from None
    except TransportError:
        pass


def accept_envelope(
    engine: Engine, broker: RedisBroker, key: ApiKey, request: EnvelopeRequest,
    settings: Settings,
) -> AcceptedEnvelope:
    """Store the message (and its relay) in one transaction, then enqueue it.

    As for native messages, the enqueue comes after the commit and a Redis
    failure is left to the dispatch sweep.
    """
    envelope, relay = prepare_envelope(key, request, settings)
    encrypted = None
    if relay is not None and relay.password:
        encrypted = SecretBox(settings.secret_key).encrypt(relay.password)
    with engine.begin() as conn:
        if relay is not None:
            relay_id = save_relay(conn, key.id, relay.url, relay.username, encrypted)
            envelope = replace(envelope, relay_id=relay_id)
        message_id, state = insert_envelope(conn, key.id, envelope,
                                            queue_timeout=settings.queue_timeout)
    try:
        enqueue_sends(broker, [message_id], settings.send_batch)
    except RedisError as exc:
        log.warning("enqueue of message %d failed (%s); the scheduler will retry after %.0fs",
                    message_id, exc, settings.queue_timeout)
    return AcceptedEnvelope(message_id, envelope.mime_message_id, state)
