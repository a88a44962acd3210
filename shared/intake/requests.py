"""What intake accepts, declared once: one type per concept from the door to the insert.

- ``MessageRequest``: one message to many recipients (one row each), the
  native API's item; ``services.api.schemas.messages.MessageItem`` only
  gives its fields their JSON names.
- ``EnvelopeRequest``: one message whose single send reaches To, Cc and Bcc
  (the compat APIs), one row.
- ``CampaignRequest``: a campaign's own fields (recipients stream in apart).

The same object is validated at the door, given its defaults by the rules
in ``shared.intake`` (``model_copy``), and stored by ``shared.db``, which
takes each table's columns from it by name (``model_dump(include=…)``):
a new field is declared here, added to its table, and is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    computed_field,
    field_serializer,
    model_validator,
)

from shared.i18n import Text
from shared.intake.attachments import Attachment
from shared.intake.fields import (
    Addressee,
    BodyText,
    Headers,
    HeaderText,
    Mailbox,
    Name,
    RowId,
    TemplateValues,
    TopicId,
    WhenOrNow,
    located,
)
from shared.sources import MessageSource


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    @classmethod
    def wire_name(cls, name: str) -> str:
        """The name a field goes by at the door that validated it (its alias, if any)."""
        return cls.model_fields[name].alias or name

    def _error(self, name: str, code: str, message: Text):
        return located(type(self).__name__, (self.wire_name(name),), code, message)


class MessageRequest(_Request):
    """One message, sent to each recipient alone: a content shared by one row per address."""

    topic_id: TopicId
    #: Each with the display name it was given with; one row per address.
    recipients: list[Addressee] = Field(min_length=1)
    # Required unless template_id names a template, which then supplies them.
    subject: HeaderText | None = None
    html: Annotated[BodyText, Field(min_length=1)] | None = None
    text: BodyText | None = None
    scheduled_at: WhenOrNow = None
    from_addr: Mailbox | None = None
    reply_to: Mailbox | None = None
    #: Open pixel and click rewriting (needs MAILPIPE_SECRET_KEY); false turns it off.
    tracking: StrictBool = True
    #: Bulk mail: carries RFC 8058 one-click List-Unsubscribe headers.
    bulk: StrictBool = False
    template_id: RowId | None = None
    #: Template values for every recipient, and per recipient (by address) over them.
    variables: TemplateValues | None = None
    recipient_variables: dict[str, TemplateValues] | None = None
    headers: Headers = ()
    #: Files shared by every recipient.
    attachments: tuple[Attachment, ...] = Field((), max_length=100)

    #: Set by ``with_template`` (intake, never a caller): the template version
    #: the parts come from, and each recipient's values as JSON by lower-cased address.
    _pinned: tuple[int, Mapping[str, str]] | None = PrivateAttr(None)
    #: Set by ``as_submitted`` (SMTP intake, never a JSON caller): the message as its
    #: client sent it.
    _raw: bytes | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _parts_or_template(self) -> MessageRequest:
        if self.template_id is None:
            for name in ("subject", "html"):
                if getattr(self, name) is None:
                    raise self._error(name, "missing_field", Text(
                        "required (unless %(field)s is given)",
                        field=self.wire_name("template_id")))
            if self.variables is not None or self.recipient_variables is not None:
                name = "variables" if self.variables is not None else "recipient_variables"
                raise self._error(name, "template_required", Text(
                    "needs %(field)s", field=self.wire_name("template_id")))
        else:
            for name in ("subject", "html", "text"):
                if getattr(self, name) is not None:
                    raise self._error(name, "template_conflict", Text(
                        "comes from the template; leave it out with %(field)s",
                        field=self.wire_name("template_id")))
        return self

    def with_template(self, version: int, subject: str, html: str, text: str | None,
                      values: Mapping[str, str]) -> MessageRequest:
        """This message with a template version's parts and each recipient's checked values."""
        pinned = self.model_copy(update={"subject": subject, "html": html, "text": text})
        pinned._pinned = (version, values)
        return pinned

    @computed_field
    @property
    def template_version(self) -> int | None:
        return self._pinned[0] if self._pinned else None

    def as_submitted(self, raw: bytes) -> MessageRequest:
        """This message as submitted over SMTP: ``raw`` is what is sent (with mailpipe's
        headers: shared.rendering.submitted); subject, html and text only describe it."""
        submitted = self.model_copy()
        submitted._raw = raw
        return submitted

    @computed_field
    @property
    def raw_mime(self) -> bytes | None:
        return self._raw

    def recipient_values(self) -> list[str] | None:
        """Each recipient's template values (JSON, in ``recipients`` order), if templated."""
        if self._pinned is None:
            return None
        return [self._pinned[1][recipient.key] for recipient in self.recipients]

    @field_serializer("headers")
    def _headers_column(self, headers: tuple[tuple[str, str], ...]) -> list[list[str]] | None:
        return [list(h) for h in headers] or None


@dataclass(frozen=True)
class RelayRequest:
    """A tenant SMTP server named in the request (URL already normalised)."""

    url: str
    username: str
    password: str | None = field(default=None, repr=False)


class EnvelopeRequest(_Request):
    """One message row whose single send reaches To, Cc and Bcc together (compat APIs)."""

    topic_id: str
    from_addr: str | None
    #: With the display names they were given with (Bcc's are never shown).
    to: tuple[Addressee, ...]
    subject: str
    html: str
    text: str | None
    cc: tuple[Addressee, ...] = ()
    bcc: tuple[Addressee, ...] = ()
    reply_to: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    relay: RelayRequest | None = None
    #: The Message-ID the email carries (without angle brackets); intake makes one.
    mime_message_id: str | None = None
    #: The door it came in by (its schema names it).
    source: MessageSource

    @field_serializer("headers")
    def _headers_column(self, headers: tuple[tuple[str, str], ...]) -> list[list[str]] | None:
        return [list(h) for h in headers] or None


class CampaignRequest(_Request):
    """A campaign's own fields: the template, topic, time and sender of every recipient."""

    name: Name
    template_id: RowId
    topic_id: TopicId
    scheduled_at: WhenOrNow = None
    from_addr: Mailbox | None = None
    reply_to: Mailbox | None = None

