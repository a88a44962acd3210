"""Accepting a compat-API message: one row whose single send reaches To, Cc and Bcc.

The Biz E-mail API and the fureweb mailer send one email per request, with
every recipient on one envelope, and name it by one id: unlike the native
API (one row per recipient), such a request is stored as one message row.
It still goes through the pipeline: stored, queued after the commit,
claimed, rate limited, sent, recorded.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.db.envelopes import insert_envelope
from shared.db.keys import ApiKey
from shared.db.relays import save_relay
from shared.errors import InvalidRequest, PayloadTooLarge, TransportError
from shared.i18n import Text
from shared.intake.addresses import address_of
from shared.intake.attachments import check_total
from shared.intake.requests import EnvelopeRequest
from shared.intake.requests import RelayRequest as RelayRequest  # the compat schemas' import
from shared.intake.rules import intake, sender_for, unique_addresses
from shared.secrets import SecretBox
from shared.settings import Settings
from shared.transports.guard import RelayRefused, check_relay_host
from shared.transports.smtp import SmtpUrlError, parse_smtp_url

#: SES takes at most 50 recipients (To, Cc and Bcc together) per message.
MAX_ENVELOPE_RECIPIENTS = 50
_ALPHABET = string.ascii_letters + string.digits

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


def prepare_envelope(key: ApiKey, request: EnvelopeRequest,
                     settings: Settings) -> EnvelopeRequest:
    """The request with its sender, one copy per address and a Message-ID; raise before
    anything is written."""
    sender = sender_for(key, request.from_addr, settings)
    to, cc, bcc = unique_addresses(request.to, request.cc, request.bcc)
    if not to:
        raise InvalidRequest("missing_field", Text("to: at least one recipient is required"),
                             field="to")
    total = len(to) + len(cc) + len(bcc)
    if total > MAX_ENVELOPE_RECIPIENTS:
        raise PayloadTooLarge("too_many_recipients", Text(
            "to, cc, bcc: %(count)s recipients; one message may have at most %(max)s",
            count=total, max=MAX_ENVELOPE_RECIPIENTS), field="to")
    check_total(request.attachments, settings.max_attachment_bytes)
    if request.relay is not None and not settings.tenant_smtp_private:
        check_relay(request.relay.url)
    return request.model_copy(update={
        "from_addr": sender, "to": to, "cc": cc, "bcc": bcc,
        "mime_message_id": request.mime_message_id or new_message_id(sender),
    })


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
        raise InvalidRequest("invalid_smtp_url", Text("smtp_url: %(problem)s", problem=str(exc)),
                             field="smtp_url") from None
    except RelayRefused as exc:
        raise InvalidRequest("relay_not_public", Text("smtp_url: %(problem)s", problem=str(exc)),
                             field="smtp_url") from None
    except TransportError:
        pass


def accept_envelope(
    engine: Engine, broker: RedisBroker, key: ApiKey, request: EnvelopeRequest,
    settings: Settings,
) -> AcceptedEnvelope:
    """Store the message (and its relay) in one transaction, then enqueue it (``rules.intake``)."""
    envelope = prepare_envelope(key, request, settings)
    relay, encrypted = envelope.relay, None
    if relay is not None and relay.password:
        encrypted = SecretBox(settings.secret_key).encrypt(relay.password)
    with intake(engine, broker, settings) as batch:
        relay_id = (save_relay(batch.conn, key.id, relay.url, relay.username, encrypted)
                    if relay is not None else None)
        message_id, state = insert_envelope(batch.conn, key.id, envelope, relay_id=relay_id,
                                            queue_timeout=settings.queue_timeout)
        batch.due([message_id])
    return AcceptedEnvelope(message_id, envelope.mime_message_id, state)
