"""Request models of ``/v1/templates`` and ``/v1/campaigns`` (see ``schemas.parse``).

Recipients are not validated here: they may be a million CSV rows, checked
one by one as they stream in (``shared.intake.campaigns``), so that every bad row
is reported with its number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.api.schemas.messages import (
    MAX_ID,
    MAX_VERSION,
    BodyText,
    HeaderText,
    Mailbox,
    TemplateValues,
    TopicId,
    _aware,
    _header_safe,
)

Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_header_safe)]
When = Annotated[datetime, AfterValidator(_aware)]


class TemplateBody(BaseModel):
    """``POST /v1/templates`` and ``PUT /v1/templates/{id}`` (a new version)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    subject: HeaderText
    html: Annotated[BodyText, Field(min_length=1)]
    text: BodyText | None = None


class RenderBody(BaseModel):
    """``POST /v1/templates/{id}/render``: preview with these values."""

    model_config = ConfigDict(extra="forbid")

    variables: TemplateValues = Field(default_factory=dict)
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)] | None = None


class CampaignFields(BaseModel):
    """The campaign itself: in a JSON body, or in the query string of a CSV upload."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Name
    template_id: Annotated[int, Field(ge=1, le=MAX_ID)] = Field(alias="templateId")
    topic_id: TopicId = Field(alias="topicId")
    scheduled_at: When | None = Field(None, alias="scheduledAt")
    from_: Mailbox | None = Field(None, alias="from")
    reply_to: Mailbox | None = Field(None, alias="replyTo")


class CampaignBody(CampaignFields):
    """``POST /v1/campaigns`` as JSON: ``recipients`` is ``[{email, ...variables}]``."""

    recipients: list[Any] = Field(min_length=1)
