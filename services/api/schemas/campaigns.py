"""Request models of ``/v1/templates`` and ``/v1/campaigns`` (see ``schemas.parse``).

Recipients are not validated here: they may be a million CSV rows, checked
one by one as they stream in (``shared.intake.campaigns``), so that every bad row
is reported with its number.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.api.params import MAX_VERSION
from services.api.schemas.messages import WIRE
from shared.i18n import Text
from shared.intake.fields import BodyText, HeaderText, Name, RowId, TemplateValues
from shared.intake.requests import CampaignRequest


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


class CampaignFields(CampaignRequest):
    """The campaign itself: in a JSON body, or in the query string of a CSV upload
    (a CampaignRequest under its JSON names)."""

    model_config = WIRE


class CampaignBody(CampaignFields):
    """``POST /v1/campaigns`` as JSON: ``recipients`` is ``[{email, ...variables}]``,
    or ``listId`` names a saved recipient list (``/v1/lists``) instead."""

    recipients: Annotated[list[Any], Field(min_length=1)] | None = Field(None, alias="recipients")
    list_id: RowId | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CampaignBody:
        if (self.recipients is None) == (self.list_id is None):
            raise self._error("recipients", "missing_field" if self.list_id is None else
                              "conflicting_fields", Text("give either recipients or listId"))
        return self
