"""The Biz E-mail API's request bodies, as pydantic models turned into an EnvelopeRequest.

The spec's own examples are honoured as written: ``smtp`` for ``smtp_url``,
``pasword`` and ``replay_id`` typos, values quoted as in
``-F 'to="<a@b>"'``, booleans as JSON or as the text "true"/"false",
addresses as ``<a@b>`` or comma-separated lists with a trailing comma.

A bad field raises ``InvalidRequest`` naming it; the Biz error handler
(services.api.resources.biz) gives it the spec's code: 411 ``to``, 421
``user``, 422 ``smtp_url``, 423 ``password``, 410 anything else.
"""

from __future__ import annotations

from dataclasses import replace
from email.header import decode_header
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from services.api.schemas.compat import (
    BodyText,
    HeaderText,
    ListedAddresses,
    Required,
    flag,
    mailbox,
    parse_first,
    text,
)
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.addresses import has_line_break, is_valid_address
from shared.intake.attachments import Attachment
from shared.intake.envelopes import EnvelopeRequest, RelayRequest
from shared.intake.fields import problem
from shared.intake.headers import reply_headers
from shared.sources import MessageSource
from shared.transports.smtp import SmtpUrlError, TlsMode, parse_smtp_url, server_url

TOPIC = "biz"

#: Spellings found in the spec's examples, read as the documented names.
ALIASES = {"smtp": "smtp_url", "pasword": "password", "replay_id": "reply_id"}
TENANT_FIELDS = ("smtp_url", "user", "password")


def canonical(fields: dict) -> dict:
    """Field names as documented (aliases folded) and curl-style quotes removed."""
    out = {}
    for name, value in fields.items():
        name = ALIASES.get(name, name)
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[name] = value
    return out


def is_tenant(fields: dict) -> bool:
    return any(fields.get(name) not in (None, "") for name in TENANT_FIELDS)


def _sender(value: Any) -> str | None:
    return mailbox(value) if value else None  # none: MAILPIPE_DEFAULT_FROM


def _smtp_url(value: Any) -> str:
    """The tenant's server URL, checked (``smtp://`` assumed without a scheme)."""
    if not isinstance(value, str) or not value.strip():
        raise problem("missing_field", Text("required"))
    url = value.strip()
    if "://" not in url:
        url = f"smtp://{url}"
    try:
        server = parse_smtp_url(url)
    except SmtpUrlError as exc:
        raise problem("invalid_smtp_url", Text("is not a usable SMTP server URL: %(problem)s",
                                              problem=str(exc))) from None
    if server.username or server.password:
        raise problem("invalid_smtp_url", Text("send the user and password as their own fields"))
    return url


def _user(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or has_line_break(value):
        raise problem("missing_field", Text("required (the SMTP user name)"))
    return value.strip()


def _password(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise problem("string_type", Text("must be text"))
    return value


_FLAG_INPUT = bool | str | None  # JSON booleans, or "true"/"false" in forms
Flag = Annotated[bool, PlainValidator(lambda value: flag(value, default=None),
                                      json_schema_input_type=_FLAG_INPUT)]
Password = Annotated[str | None, PlainValidator(_password, json_schema_input_type=str | None)]


class BizSend(BaseModel):
    """``/email/send`` and ``/email/multipart/send`` (after ``canonical``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    to: Annotated[ListedAddresses, Required]
    cc: ListedAddresses = ()
    bcc: ListedAddresses = ()
    subject: Annotated[HeaderText, Required]
    body: BodyText = None
    use_html: Annotated[bool, PlainValidator(lambda value: flag(value, default=True),
                                             json_schema_input_type=_FLAG_INPUT)] = True
    reply_id: Annotated[str | None, PlainValidator(lambda value: text(value, header=True),
                                                   json_schema_input_type=str | None)] = None
    from_: Annotated[str | None, PlainValidator(_sender, json_schema_input_type=str | None)
                     ] = Field(None, alias="from")

    def relay(self) -> RelayRequest | None:
        return None

    def envelope(self, files: list[Attachment]) -> EnvelopeRequest:
        relay = self.relay()
        headers = reply_headers(self.reply_id) if self.reply_id else ()
        body = self.body or ""
        return EnvelopeRequest(
            topic_id=TOPIC, from_addr=self._from(relay), to=self.to, cc=self.cc, bcc=self.bcc,
            subject=self.subject, html=body if self.use_html else "",
            text=None if self.use_html else body, headers=headers, attachments=tuple(files),
            relay=relay, source=MessageSource.BIZ,
        )

    def _from(self, relay: RelayRequest | None) -> str | None:
        """An explicit ``from``; for a tenant, its SMTP user when that is an address."""
        if self.from_ is None and relay is not None and is_valid_address(relay.username):
            return relay.username
        return self.from_


class BizTenantSend(BizSend):
    """A send through the tenant's own SMTP server (``/email/tenant/send``, or
    ``/email/send`` naming one)."""

    ssl: Flag
    smtp_url: Annotated[str, PlainValidator(_smtp_url, json_schema_input_type=str)]
    user: Annotated[str, PlainValidator(_user, json_schema_input_type=str)]
    password: Password = None

    def relay(self) -> RelayRequest:
        """The server as a normalised URL; ``ssl`` picks the TLS mode for smtp://.

        ``smtp://host:465`` with ssl=true (the spec's own example) is implicit
        TLS, as port 465 always is; any other smtp:// port with ssl=true must
        upgrade with STARTTLS; ssl=false upgrades when the server offers it.
        """
        server = parse_smtp_url(self.smtp_url)
        if self.smtp_url.startswith("smtp://") and "tls=" not in self.smtp_url:
            if self.ssl and server.port == 465:
                server = replace(server, tls=TlsMode.IMPLICIT)
            elif not self.ssl:
                server = replace(server, tls=TlsMode.OPTIONAL)
        return RelayRequest(url=server_url(server), username=self.user,
                            password=self.password or None)


class BizTenantSendWithPassword(BizTenantSend):
    """``/email/multipart/tenant/send``: the spec requires the password there."""

    password: Annotated[Password, Required]


#: The Biz server checks the tenant's server before the message.
_RELAY_FIRST = ("ssl", "smtp_url", "user", "password")


def _first(errors: list[dict]) -> dict:
    return min(errors, key=lambda err: err["field"] not in _RELAY_FIRST)


def biz_request(fields: Any, files: list[Attachment], *, tenant: bool | None,
                password_required: bool) -> EnvelopeRequest:
    """The checked request. ``tenant`` None: a tenant send when the fields name a server."""
    if not isinstance(fields, dict):
        raise InvalidRequest("invalid_json", Text("the body must be a JSON object"))
    fields = canonical(fields)
    if tenant is None:
        tenant = is_tenant(fields)
    model = BizSend
    if tenant:
        model = BizTenantSendWithPassword if password_required else BizTenantSend
    return parse_first(model, fields, _first).envelope(files)


def decoded_filename(name: str) -> str:
    """A file name as sent, RFC 2047 words (``=?UTF-8?B?…?=``) decoded."""
    if "=?" not in name:
        return name
    try:
        # Joined as is: make_header would add a space between a word and the text after it.
        return "".join(part.decode(charset or "ascii") if isinstance(part, bytes) else part
                       for part, charset in decode_header(name))
    except (ValueError, LookupError, UnicodeDecodeError):
        return name
