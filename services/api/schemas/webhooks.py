"""Request models of ``/v1/webhooks`` (see ``schemas.parse``).

An endpoint's URL is checked for its shape here (``shared.webhooks.urls``);
whether this deployment lets it be http or private is the resource's call,
with the settings.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from shared.i18n import Text
from shared.intake.fields import TopicId, When, located, problem
from shared.webhooks.events import DeliveryState, OutboundEventType
from shared.webhooks.urls import MAX_URL, url_problem

CAMEL = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
#: Event types and topics one endpoint may name.
MAX_TYPES = len(OutboundEventType)
MAX_TOPICS = 100


def _url(value: str) -> str:
    found = url_problem(value)
    if found is not None:
        raise problem(*found)
    return value


def _event_type(value: str) -> str:
    if value not in OutboundEventType._value2member_map_:
        raise problem("unknown_event_type", Text(
            "%(type)r is not an event type (one of %(types)s)", type=value,
            types=", ".join(OutboundEventType)))
    return value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Url = Annotated[str, Field(min_length=1, max_length=MAX_URL), AfterValidator(_url)]
EventTypeName = Annotated[str, AfterValidator(_event_type)]
EventTypes = Annotated[list[EventTypeName], Field(max_length=MAX_TYPES * 2),
                       AfterValidator(_unique)]
Topics = Annotated[list[TopicId], Field(max_length=MAX_TOPICS), AfterValidator(_unique)]


class WebhookBody(BaseModel):
    """``POST /v1/webhooks``: where to post, and what (no types or topics: everything)."""

    model_config = CAMEL

    url: Url
    event_types: EventTypes = Field(default_factory=list)
    topics: Topics = Field(default_factory=list)
    enabled: bool = True


class WebhookChange(BaseModel):
    """``PATCH /v1/webhooks/{id}``: what is given is replaced."""

    model_config = CAMEL

    url: Url | None = None
    event_types: EventTypes | None = None
    topics: Topics | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> WebhookChange:
        if not self.model_fields_set:
            raise problem("empty", Text("give at least one of url, eventTypes, topics, "
                                        "enabled"))
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise located(type(self).__name__, (to_camel(name),), "null_field",
                              Text("must not be null"))
        return self


def _state(value: Any) -> str:
    if value not in DeliveryState._value2member_map_:
        raise problem("unknown_state", Text("%(state)r is not a delivery state (one of "
                                            "%(states)s)", state=value,
                                            states=", ".join(DeliveryState)))
    return value


StateName = Annotated[str, AfterValidator(_state)]


class ReplayBody(BaseModel):
    """``POST /v1/webhooks/{id}/replay``: the key's events in [from, to) again."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: When = Field(alias="from")
    end: When = Field(alias="to")
    event_types: Annotated[list[EventTypeName], Field(min_length=1, max_length=MAX_TYPES)
                           ] | None = Field(None, alias="eventTypes")
    states: Annotated[list[StateName], Field(min_length=1, max_length=len(DeliveryState))
                      ] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReplayBody:
        if self.end <= self.start:
            raise located(type(self).__name__, ("to",), "invalid_range",
                          Text("must be after from"))
        return self
