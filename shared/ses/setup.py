"""``mailpipe ses setup``: SES's feedback loop to mailpipe, made or checked in small steps.

The loop: a configuration set every send names; on it an event destination
passing every event type mailpipe records (``checks.RECORDED_TYPES``, plus
OPEN and CLICK when SES's tracking is wanted instead of mailpipe's) to an SNS
topic; that topic's HTTPS subscription to ``<public url>/v1/events/results``,
which the api confirms itself when SNS asks (services/api/resources/sns.py).

Each step reads first and creates only what is missing, so running setup
again changes nothing; a destination of mailpipe's that lacks a type it
should pass gets the type added. Nothing is ever deleted or turned off.
``dry_run`` reads and says what it would do. Failures are ``SesUnavailable``
(shared.ses.account), with the step's operation named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore import xform_name

from shared.ses.account import (
    ConfigurationSet,
    SesUnavailable,
    call,
    confirmed,
    pages,
    read_configuration_set,
    read_subscription,
)
from shared.ses.checks import RECORDED_TYPES, events_url

log = logging.getLogger("mailpipe.ses")

#: What ``setup`` names its parts when not told otherwise.
DEFAULT_CONFIGURATION_SET = "mailpipe"
DEFAULT_TOPIC = "mailpipe-ses-events"
DESTINATION = "mailpipe-sns"
#: Added with ``ses_tracking``: SES counts opens and clicks instead of mailpipe.
TRACKING_TYPES = ("OPEN", "CLICK")

#: What a step found or did.
CREATED, EXISTS, UPDATED, WOULD_CREATE, WOULD_UPDATE, PENDING = (
    "created", "exists", "updated", "would create", "would update", "pending confirmation")


@dataclass(frozen=True)
class Step:
    """One part of the loop: what it is, and what setup found or did (``CREATED``, …)."""

    part: str
    name: str
    outcome: str
    note: str = ""


@dataclass(frozen=True)
class Plan:
    """What ``setup`` is asked to make."""

    public_url: str
    configuration_set: str = DEFAULT_CONFIGURATION_SET
    topic: str = DEFAULT_TOPIC
    ses_tracking: bool = False
    dry_run: bool = False

    @property
    def endpoint(self) -> str:
        return events_url(self.public_url)

    @property
    def protocol(self) -> str:
        return urlsplit(self.public_url).scheme

    @property
    def event_types(self) -> tuple[str, ...]:
        return RECORDED_TYPES + (TRACKING_TYPES if self.ses_tracking else ())


def check_public_url(url: str) -> str | None:
    """Why ``url`` cannot be where SNS delivers to, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "the public URL must be an https:// URL (http:// only for local tests)"
    if parts.query or parts.fragment:
        return "the public URL takes no query or fragment"
    return None


def ensure_configuration_set(ses, plan: Plan) -> tuple[Step, ConfigurationSet | None]:
    """(the step, the set as read: None when it was missing, so it has no destinations)."""
    found = read_configuration_set(ses, plan.configuration_set)
    if found is not None:
        return Step("configuration set", plan.configuration_set, EXISTS), found
    if plan.dry_run:
        return Step("configuration set", plan.configuration_set, WOULD_CREATE), None
    call(ses, "CreateConfigurationSet", "create_configuration_set",
          ConfigurationSetName=plan.configuration_set)
    return Step("configuration set", plan.configuration_set, CREATED), None


def find_topic(sns, name: str) -> str | None:
    """The ARN of the account's SNS topic ``name`` in the client's region, or None."""
    for answer in pages(sns, "ListTopics", "list_topics"):
        for topic in answer.get("Topics", []):
            if topic.get("TopicArn", "").rpartition(":")[2] == name:
                return topic["TopicArn"]
    return None


def ensure_topic(sns, plan: Plan) -> tuple[Step, str | None]:
    """(the step, the topic's ARN: None when a dry run would create it)."""
    arn = find_topic(sns, plan.topic)
    if arn is not None:
        return Step("SNS topic", arn, EXISTS), arn
    if plan.dry_run:
        return Step("SNS topic", plan.topic, WOULD_CREATE), None
    arn = call(sns, "CreateTopic", "create_topic", Name=plan.topic)["TopicArn"]
    return Step("SNS topic", arn, CREATED), arn


def ensure_destination(ses, plan: Plan, topic_arn: str | None,
                       found: ConfigurationSet | None) -> Step:
    """An enabled SNS destination to ``topic_arn`` passing ``plan.event_types``: mailpipe's
    own (``DESTINATION``) is created, or given the types it lacks; another destination
    already doing all of it is left as it is. ``found``: the set as
    ``ensure_configuration_set`` read it."""
    wanted = set(plan.event_types)
    destinations = found.destinations if found and topic_arn else ()
    for d in destinations:
        if d.kind == "SNS" and d.enabled and d.topic_arn == topic_arn and wanted <= d.types:
            return Step("event destination", d.name, EXISTS, ", ".join(sorted(d.types)))
    ours = next((d for d in destinations if d.name == DESTINATION), None)
    definition = {"Enabled": True, "MatchingEventTypes": sorted(wanted | set(
        ours.types if ours and ours.topic_arn == topic_arn else ())),
        "SnsDestination": {"TopicArn": topic_arn or plan.topic}}
    types = ", ".join(definition["MatchingEventTypes"])
    if plan.dry_run:
        return Step("event destination", DESTINATION,
                    WOULD_UPDATE if ours else WOULD_CREATE, types)
    operation = ("UpdateConfigurationSetEventDestination" if ours
                 else "CreateConfigurationSetEventDestination")
    call(ses, operation, xform_name(operation), ConfigurationSetName=plan.configuration_set,
          EventDestinationName=DESTINATION, EventDestination=definition)
    return Step("event destination", DESTINATION, UPDATED if ours else CREATED, types)


def ensure_subscription(sns, plan: Plan, topic_arn: str | None) -> Step:
    """The topic's subscription to the events endpoint. Subscribing again while one waits
    for confirmation makes SNS send its confirmation again (the api confirms it)."""
    found = read_subscription(sns, topic_arn, plan.endpoint) if topic_arn else None
    if confirmed(found):
        return Step("subscription", plan.endpoint, EXISTS, found)
    if plan.dry_run:
        return Step("subscription", plan.endpoint, WOULD_CREATE if found is None else PENDING)
    arn = call(sns, "Subscribe", "subscribe", TopicArn=topic_arn, Protocol=plan.protocol,
                Endpoint=plan.endpoint, ReturnSubscriptionArn=True).get("SubscriptionArn")
    return Step("subscription", plan.endpoint, CREATED if found is None else PENDING,
                arn if confirmed(arn) else "SNS waits for the api to confirm it")


def setup(ses, sns, plan: Plan) -> tuple[list[Step], str | None]:
    """Every step in order; (the steps, the topic's ARN). SesUnavailable when one fails
    (the steps before it are done: running setup again finishes the rest)."""
    set_step, found = ensure_configuration_set(ses, plan)
    topic_step, topic_arn = ensure_topic(sns, plan)
    steps = [set_step, topic_step, ensure_destination(ses, plan, topic_arn, found)]
    steps.append(ensure_subscription(sns, plan, topic_arn))
    return steps, topic_arn


def configuration_set_to_name(ses, settings, *, quiet: bool = False) -> str | None:
    """The configuration set a sender names on every send (MAILPIPE_SES_CONFIGURATION_SET),
    or None: only one SES says exists, since SES refuses every send naming a missing set.

    The default (``mailpipe``, what ``setup`` makes) on an install that never ran setup
    is named nowhere: it sends as before, and ``ses status`` says the loop is not set up.
    A set that cannot be read (ses:GetConfigurationSet denied, SES unreachable) is named
    only when the operator set it explicitly: their word against a missing set's refusals.
    ``quiet``: say nothing of a set still missing (a sender looking again, every few
    minutes, after it said so at start).
    """
    name = settings.ses_configuration_set or None
    if name is None:
        return None
    explicit = "ses_configuration_set" in settings.model_fields_set
    try:
        found = read_configuration_set(ses, name)
    except SesUnavailable as exc:
        if quiet:
            return name if explicit else None
        if explicit:
            log.warning("cannot check that the configuration set %s exists (%s); naming it "
                        "as MAILPIPE_SES_CONFIGURATION_SET says", name, exc)
            return name
        log.warning("cannot check that the configuration set %s exists (%s); naming none "
                    "(set MAILPIPE_SES_CONFIGURATION_SET to name it anyway)", name, exc)
        return None
    if found is None:
        if quiet:
            return None
        (log.error if explicit else log.warning)(
            "the SES configuration set %s does not exist: sends name none, and SES's events "
            "do not come back through it (run: mailpipe ses setup --public-url ...)", name)
        return None
    return name


def topic_advice(topic_arn: str | None, accepted: frozenset[str]) -> str | None:
    """What MAILPIPE_SNS_TOPIC_ARNS needs for the api to take the topic's notifications,
    or None when it already does."""
    if topic_arn is None or topic_arn in accepted:
        return None
    if not accepted:
        return (f"MAILPIPE_SNS_TOPIC_ARNS is empty (any signed topic is accepted); to accept "
                f"only this one, set MAILPIPE_SNS_TOPIC_ARNS={topic_arn}")
    return (f"the api refuses this topic's notifications: add it, "
            f"MAILPIPE_SNS_TOPIC_ARNS={','.join(sorted(accepted | {topic_arn}))}, and restart "
            f"the api")


__all__ = ["Plan", "SesUnavailable", "Step", "setup", "topic_advice"]
