"""The falcon app factory: dependencies in, WSGI app out (no globals, no I/O at import)."""

from __future__ import annotations

from dataclasses import dataclass, field

import falcon
from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from sqlalchemy import Engine

from services.api import errors
from services.api.auth import ApiKeyMiddleware
from services.api.metrics import MetricsMiddleware, MetricsResource
from services.api.params import ID_FIELD, IdConverter, TextParamsMiddleware
from services.api.resources import biz, fureweb
from services.api.resources.campaigns import (
    CampaignActionResource,
    CampaignResource,
    CampaignsResource,
)
from services.api.resources.docs import DocsResource, OpenApiResource, RedocResource
from services.api.resources.health import HealthResource
from services.api.resources.listings import CampaignMessagesResource
from services.api.resources.messages import MessageResource, MessagesResource
from services.api.resources.recipient_lists import (
    RecipientListResource,
    RecipientListsResource,
)
from services.api.resources.root import RootResource
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
from services.api.resources.webhooks import (
    WebhookDeliveriesResource,
    WebhookDeliveryRetryResource,
    WebhookReplayResource,
    WebhookResource,
    WebhookRotateResource,
    WebhooksResource,
    WebhookTestResource,
)
from services.api.spec.build import openapi, version
from services.api.throttle import Guards, IntakeRateMiddleware
from services.console import errors as console_errors
from services.console.app import install as install_console
from shared.events.sns import (
    CertificateCache,
    HttpsSnsClient,
    SnsHttp,
    SnsVerifier,
    parse_topic_arns,
)
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
    #: The process's request budgets and sync-wait slots; built from the
    #: settings when not given.
    guards: Guards = field(default=None)
    #: The SES v2 client the console reads the account with (GetAccount, identities,
    #: configuration sets); tests pass one for their own endpoint. None: made from the
    #: settings (``shared.transports.ses.ses_client``) when first needed.
    ses: object | None = None
    #: The SNS client it reads the destination topics' subscriptions with; None: made from
    #: the settings (``services.ses.sns_client``) when first needed.
    sns: object | None = None

    def __post_init__(self) -> None:
        if self.guards is None:
            object.__setattr__(self, "guards", Guards.from_settings(self.settings, self.redis))


def create_app(deps: ApiDeps) -> falcon.App:
    app = falcon.App(middleware=[MetricsMiddleware(), TextParamsMiddleware(),
                                 ApiKeyMiddleware(deps.engine, deps.guards),
                                 IntakeRateMiddleware(deps.guards.intake)])
    app.req_options.strip_url_path_trailing_slash = True
    app.router_options.converters[ID_FIELD] = IdConverter
    errors.install(app, scopes=(biz.ERRORS, fureweb.ERRORS, console_errors.ERRORS))
    app.add_route("/health", HealthResource(deps))
    app.add_route("/v1/messages", MessagesResource(deps))
    # Bounded to BIGINT: a larger id is no message, not a database error.
    app.add_route(f"/v1/messages/{{message_id:{ID_FIELD}}}", MessageResource(deps))
    app.add_route("/v1/topics/{topic_id}", TopicResource(deps))
    app.add_route("/v1/events/counts/sent", SentCountResource(deps))
    _add_template_routes(app, deps)
    _add_event_routes(app, deps)
    _add_webhook_routes(app, deps)
    biz.install(app, deps)
    fureweb.install(app, deps)
    _add_operations_routes(app, deps)
    install_console(app, deps)  # the web console under /ui (issue 14)
    return app


def _add_operations_routes(app: falcon.App, deps: ApiDeps) -> None:
    """The API's description (built from the routes above) and metrics (issue 16);
    ``/``: browsers to the console, other clients an index (issue 23)."""
    app.add_route("/", RootResource(version()))
    app.add_route("/openapi.json", OpenApiResource(
        lambda: openapi(app, server_url=deps.settings.public_url)))
    app.add_route("/docs", DocsResource())
    app.add_route("/docs/redoc.standalone.js", RedocResource())
    app.add_route("/metrics", MetricsResource(deps.settings.metrics_allow))


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


def _add_webhook_routes(app: falcon.App, deps: ApiDeps) -> None:
    """Outbound webhooks: a key's endpoints and their deliveries (issue 28)."""
    one = f"/v1/webhooks/{{webhook_id:{ID_FIELD}}}"
    app.add_route("/v1/webhooks", WebhooksResource(deps))
    app.add_route(one, WebhookResource(deps))
    app.add_route(f"{one}/rotate", WebhookRotateResource(deps))
    app.add_route(f"{one}/deliveries", WebhookDeliveriesResource(deps))
    app.add_route(f"{one}/deliveries/{{delivery_id:{ID_FIELD}}}/retry",
                  WebhookDeliveryRetryResource(deps))
    app.add_route(f"{one}/replay", WebhookReplayResource(deps))
    app.add_route(f"{one}/test", WebhookTestResource(deps))


def _add_template_routes(app: falcon.App, deps: ApiDeps) -> None:
    """Templates and campaigns (issue 7)."""
    an_id = ID_FIELD
    app.add_route("/v1/templates", TemplatesResource(deps))
    app.add_route(f"/v1/templates/{{template_id:{an_id}}}", TemplateResource(deps))
    app.add_route(f"/v1/templates/{{template_id:{an_id}}}/render", TemplateRenderResource(deps))
    app.add_route("/v1/lists", RecipientListsResource(deps))
    app.add_route(f"/v1/lists/{{list_id:{an_id}}}", RecipientListResource(deps))
    app.add_route("/v1/campaigns", CampaignsResource(deps))
    app.add_route(f"/v1/campaigns/{{campaign_id:{an_id}}}", CampaignResource(deps))
    app.add_route(f"/v1/campaigns/{{campaign_id:{an_id}}}/messages",
                  CampaignMessagesResource(deps))
    app.add_route(f"/v1/campaigns/{{campaign_id:{an_id}}}/{{action}}",
                  CampaignActionResource(deps))
