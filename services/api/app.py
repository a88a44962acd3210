"""The falcon app factory: dependencies in, WSGI app out (no globals, no I/O at import)."""

from __future__ import annotations

from dataclasses import dataclass

import falcon
from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from sqlalchemy import Engine

from services.api import errors
from services.api.auth import ApiKeyMiddleware
from services.api.resources import compat_biz, compat_fureweb
from services.api.resources.campaigns import (
    CampaignActionResource,
    CampaignResource,
    CampaignsResource,
)
from services.api.resources.events import SentCountResource
from services.api.resources.health import HealthResource
from services.api.resources.messages import MessageResource, MessagesResource
from services.api.resources.templates import (
    TemplateRenderResource,
    TemplateResource,
    TemplatesResource,
)
from services.api.resources.topics import TopicResource
from shared.settings import Settings


@dataclass(frozen=True)
class ApiDeps:
    settings: Settings
    engine: Engine
    broker: RedisBroker
    redis: Redis


def create_app(deps: ApiDeps) -> falcon.App:
    app = falcon.App(middleware=[ApiKeyMiddleware(deps.engine)])
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    app.add_route("/health", HealthResource(deps))
    app.add_route("/v1/messages", MessagesResource(deps))
    # Bounded to BIGINT: a larger id is no message, not a database error.
    app.add_route("/v1/messages/{message_id:int(min=1, max=9223372036854775807)}",
                  MessageResource(deps))
    app.add_route("/v1/topics/{topic_id}", TopicResource(deps))
    app.add_route("/v1/events/counts/sent", SentCountResource(deps))
    compat_biz.install(app, deps)
    compat_fureweb.install(app, deps)
    _add_template_routes(app, deps)
    return app


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
