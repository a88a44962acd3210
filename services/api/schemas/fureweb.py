"""The fureweb mailer's body ``{isSync, key, from, to[], cc[], title, content}`` as a model.

A missing or empty ``key`` is ``Unauthorized`` (fureweb's 406 "invalid api
key", before any other field); any other bad field is ``InvalidRequest``
whose message starts "invalid parameter:" and names the field (fureweb's
400). The fureweb error handler (services.api.resources.fureweb) maps them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from services.api.schemas.compat import (
    BodyText,
    HeaderText,
    Mailbox,
    OneAddressEach,
    Required,
    parse_first,
)
from shared.errors import InvalidRequest, Unauthorized
from shared.i18n import Text
from shared.intake.envelopes import EnvelopeRequest
from shared.sources import MessageSource

TOPIC = "fureweb"


class FurewebMail(BaseModel):
    """``POST /api/mail``; fields in the order the fureweb server checks them."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    key: Annotated[str, Field(min_length=1)]
    from_: Mailbox = Field(alias="from")
    is_sync: StrictBool = Field(False, alias="isSync")
    to: Annotated[OneAddressEach, Required]
    cc: OneAddressEach = ()
    title: Annotated[HeaderText, Required]
    content: Annotated[BodyText, Required]

    def envelope(self) -> EnvelopeRequest:
        return EnvelopeRequest(topic_id=TOPIC, from_addr=self.from_, to=self.to, cc=self.cc,
                               subject=self.title, html=self.content, text=None,
                               source=MessageSource.FUREWEB)


def fureweb_mail(body: Any) -> FurewebMail:
    """The checked body, or Unauthorized (no key) / InvalidRequest (a bad field)."""
    try:
        return parse_first(FurewebMail, body)
    except InvalidRequest as exc:
        if exc.field == "key":
            raise Unauthorized("invalid_api_key", Text("invalid api key"), field="key") from None
        raise InvalidRequest(exc.code, Text("invalid parameter: %(problem)s", problem=exc.text),
                             field=exc.field, details=exc.details) from None
