"""The falcon app factory: dependencies in, WSGI app out (no globals, no I/O at import)."""

from __future__ import annotations

from dataclasses import dataclass

import falcon
from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from sqlalchemy import Engine

from services.api import errors
from services.api.auth import ApiKeyMiddleware
from services.api.resources import biz, fureweb
from services.api.resources.campaigns import (
    CampaignActionResource,
    CampaignResource,
    CampaignsResource,
)
from services.api.resources.health import HealthResource
from services.api.resources.messages import MessageResource, MessagesResource
from services.api.resources.sent_counts import SentCountResource
from services.api.resources.sns import SnsEventsResource
from services.api.resources.suppressions import SuppressionResource, SuppressionsResource
from services.api.resources.templates import (
    TemplateRenderResource,
    TemplateResource,
    TemplatesResource,
)
from services.api.resources.topics import TopicResource
from services.api.resources.tracking import ClickResource, OpenResource
from services.api.resources.unsubscribe import UnsubscribeResource
from services.api.throttle import IntakeRateMiddleware
from services.console.app import install as install_console
from shared.events.sns import (
    CertificateCache,
    HttpsSnsClient,
    SnsHttp,
    SnsVerifier,
    parse_topic_arns,
)
from shared.rate.limiter import IntakeLimiter
from shared.rendering.tracking import tracker_for
from shared.settings import Settings


@dataclass(frozen=True)
class ApiDeps:
    settings: Settings
    engine: Engine
    broker: RedisBroker
    redis: Redis
    #: Certificate downloads and subscription confirmations; tests pass one
    #: serving their own test certificate. None: HTTPS to SNS.
    sns_http: SnsHttp | None = None


def create_app(deps: ApiDeps) -> falcon.App:
    intake = IntakeLimiter(deps.redis, deps.settings.intake_rate, deps.settings.intake_burst)
    app = falcon.App(middleware=[ApiKeyMiddleware(deps.engine), IntakeRateMiddleware(intake)])
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    app.add_route("/health", HealthResource(deps))
    app.add_route("/v1/messages", MessagesResource(deps))
    # Bounded to BIGINT: a larger id is no message, not a database error.
    app.add_route("/v1/messages/{message_id:int(min=1, max=9223372036854775807)}",
                  MessageResource(deps))
    app.add_route("/v1/topics/{topic_id}", TopicResource(deps))
    app.add_route("/v1/events/counts/sent", SentCountResource(deps))
    _add_template_routes(app, deps)
    _add_event_routes(app, deps)
    biz.install(app, deps)
    fureweb.install(app, deps)
    install_console(app, deps)  # the web console under /ui (issue 14)
    return app


def _add_event_routes(app: falcon.App, deps: ApiDeps) -> None:
    """SNS, tracking, unsubscribe and suppressions (issue 5)."""
    settings = deps.settings
    sns_http = deps.sns_http or HttpsSnsClient()
    verifier = SnsVerifier(
        CertificateCache(sns_http), topic_arns=parse_topic_arns(settings.sns_topic_arns),
        max_age=settings.sns_max_age, raw_secret=settings.sns_raw_secret,
    )
    tracker = tracker_for(settings)
    app.add_route("/v1/events/results", SnsEventsResource(deps, verifier, sns_http))
    app.add_route("/v1/events/open", OpenResource(deps, tracker))
    app.add_route("/v1/events/click", ClickResource(deps, tracker))
    app.add_route("/v1/unsubscribe", UnsubscribeResource(deps, tracker))
    app.add_route("/v1/suppressions", SuppressionsResource(deps))
    app.add_route("/v1/suppressions/{email}", SuppressionResource(deps))


def _add_template_routes(app: falcon.App, deps: ApiDeps) -> None:
    """Templates and campaigns (issue 7)."""
    an_id = "int(min=1, max=9223372036854775807)"
    app.add_route("/v1/templates", TemplatesResource(deps))
    app.add_route(f"/v1/templates/{{template_id:{an_id}}}", TemplateResource(deps))
    app.add_route(f"/v1/templates/{{template_id:{an_id}}}/render", TemplateRenderResource(deps))
    app.add_route("/v1/campaigns", CampaignsResource(deps))
    app.add_route(f"/v1/campaigns/{{campaign_id:{an_id}}}", CampaignResource(deps))
    app.add_route(f"/v1/campaigns/{{campaign_id:{an_id}}}/{{action}}",
                  CampaignActionResource(deps))
