"""The Biz E-mail API's request fields, checked and turned into an EnvelopeRequest.

The spec's own examples are honoured as written: ``smtp`` for ``smtp_url``,
``pasword`` and ``replay_id`` typos, values quoted as in
``-F 'to="<a@b>"'``, booleans as JSON or as the text "true"/"false",
addresses as ``<a@b>`` or comma-separated lists with a trailing comma.

Every problem becomes a ``BizError`` with the spec's code: 411 ``to``, 421
``user``, 422 ``smtp_url``, 423 ``password``, 410 anything else.
"""

from __future__ import annotations

from dataclasses import replace
from email.header import decode_header
from email.utils import getaddresses

from shared.errors import InvalidRequest, MailpipeError
from shared.intake.addresses import has_line_break, is_valid_address, normalize_mailbox
from shared.intake.attachments import Attachment
from shared.intake.envelopes import EnvelopeRequest, RelayRequest
from shared.intake.headers import reply_headers
from shared.transports.smtp import SmtpUrlError, TlsMode, parse_smtp_url, server_url

TOPIC = "biz"

#: The spec's code table, as the ``message`` of an error answer starts.
DESCRIPTIONS = {
    "200": "OK",
    "410": "[Error] parameter invalid.",
    "411": "[Error] parameter invalid.(to)",
    "421": "[Error] parameter invalid.(user)",
    "422": "[Error] parameter invalid.(smtp_url)",
    "423": "[Error] parameter invalid.(password)",
    "500": "[Error] Server",
}
#: Spellings found in the spec's examples, read as the documented names.
ALIASES = {"smtp": "smtp_url", "pasword": "password", "replay_id": "reply_id"}
TENANT_FIELDS = ("smtp_url", "user", "password")


class BizError(MailpipeError):
    """Raised when a Biz E-mail API request cannot be served; carries the Biz code.

    ``status`` is the HTTP status: 200 for parameter errors (Biz clients
    read ``code``), 413 for attachments over the cap, 401 without a key, 500
    for server errors.
    """

    def __init__(self, code: str, detail: str = "", status: int = 200) -> None:
        super().__init__(f"{code} {detail}")
        self.code = code
        self.detail = detail
        self.status = status

    def to_dict(self) -> dict:
        message = DESCRIPTIONS.get(self.code, "[Error]")
        return {"code": self.code, "message_id": "",
                "message": f"{message} {self.detail}".strip()}


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


def addresses(value, name: str, code: str, *, required: bool = False) -> tuple[str, ...]:
    """``<a@b>``, ``a@b``, ``Name <a@b>``, comma-separated, or a JSON list of those."""
    if value is None or value == "" or value == []:
        if required:
            raise BizError(code, f"{name}: required")
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise BizError(code, f"{name}: must be text")
    if any(has_line_break(item) for item in items):
        raise BizError(code, f"{name}: must not contain line breaks")
    found = []
    for display, address in getaddresses(items):
        if not display and not address:
            continue  # the trailing comma of "<a@b>,<c@d>,"
        if not is_valid_address(address):
            raise BizError(code, f"{name}: {(address or display)[:100]!r} is not an email address")
        found.append(address)
    if required and not found:
        raise BizError(code, f"{name}: required")
    return tuple(found)


def flag(value, name: str, *, default: bool | None = None) -> bool:
    """A JSON boolean, or the text true/false (multipart forms)."""
    if value is None or value == "":
        if default is None:
            raise BizError("410", f"{name}: required (true or false)")
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "y", "n"):
        return value.strip().lower() in ("true", "1", "y")
    raise BizError("410", f"{name}: must be true or false")


def text_field(value, name: str, *, required: bool = False, header: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise BizError("410", f"{name}: required")
        return None
    if not isinstance(value, str):
        raise BizError("410", f"{name}: must be text")
    if "\x00" in value or (header and has_line_break(value)):
        raise BizError("410", f"{name}: must not contain line breaks or NUL")
    return value


def relay_url(smtp_url, use_ssl: bool) -> str:
    """The tenant server as a normalised URL; ``ssl`` picks the TLS mode for smtp://.

    ``smtp://host:465`` with ssl=true (the spec's own example) is implicit
    TLS, as port 465 always is; any other smtp:// port with ssl=true must
    upgrade with STARTTLS; ssl=false upgrades when the server offers it.
    """
    if not isinstance(smtp_url, str) or not smtp_url.strip():
        raise BizError("422", "smtp_url: required")
    url = smtp_url.strip()
    if "://" not in url:
        url = f"smtp://{url}"
    try:
        server = parse_smtp_url(url)
    except SmtpUrlError as exc:
        raise BizError("422", f"smtp_url: {exc}") from None
    if server.username or server.password:
        raise BizError("422", "smtp_url: send the user and password as their own fields")
    if url.startswith("smtp://") and "tls=" not in url:
        if use_ssl and server.port == 465:
            server = replace(server, tls=TlsMode.IMPLICIT)
        elif not use_ssl:
            server = replace(server, tls=TlsMode.OPTIONAL)
    return server_url(server)


def tenant_relay(fields: dict, *, password_required: bool) -> RelayRequest:
    use_ssl = flag(fields.get("ssl"), "ssl")
    url = relay_url(fields.get("smtp_url"), use_ssl)
    user = fields.get("user")
    if not isinstance(user, str) or not user.strip() or has_line_break(user):
        raise BizError("421", "user: required (the SMTP user name)")
    password = fields.get("password")
    if password is not None and not isinstance(password, str):
        raise BizError("423", "password: must be text")
    if password_required and not password:
        raise BizError("423", "password: required")
    return RelayRequest(url=url, username=user.strip(), password=password or None)


def envelope_request(
    fields: dict, files: list[Attachment], *, tenant: bool, password_required: bool
) -> EnvelopeRequest:
    """The checked request; BizError with the spec's code otherwise."""
    relay = tenant_relay(fields, password_required=password_required) if tenant else None
    to = addresses(fields.get("to"), "to", "411", required=True)
    cc = addresses(fields.get("cc"), "cc", "410")
    bcc = addresses(fields.get("bcc"), "bcc", "410")
    subject = text_field(fields.get("subject"), "subject", required=True, header=True)
    body = text_field(fields.get("body"), "body") or ""
    use_html = flag(fields.get("use_html"), "use_html", default=True)
    headers: tuple[tuple[str, str], ...] = ()
    reply_id = text_field(fields.get("reply_id"), "reply_id", header=True)
    if reply_id:
        try:
            headers = reply_headers(reply_id)
        except InvalidRequest as exc:
            raise BizError("410", exc.message) from None
    return EnvelopeRequest(
        topic_id=TOPIC, from_addr=sender(fields, relay), to=to, cc=cc, bcc=bcc,
        subject=subject, html=body if use_html else "", text=None if use_html else body,
        headers=headers, attachments=tuple(files), relay=relay,
    )


def sender(fields: dict, relay: RelayRequest | None) -> str | None:
    """An explicit ``from``; for a tenant, its SMTP user when that is an address."""
    explicit = fields.get("from")
    if explicit:
        mailbox = normalize_mailbox(explicit) if isinstance(explicit, str) else None
        if mailbox is None:
            raise BizError("410", "from: not an email address")
        return mailbox
    if relay is not None and is_valid_address(relay.username):
        return relay.username
    return None  # MAILPIPE_DEFAULT_FROM, like the Biz server's own from_mail


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
