"""Mounting the console on the API's falcon app: routes, the session middleware, errors."""

from __future__ import annotations

from pathlib import Path

import falcon

from services.api.params import ID_FIELD
from services.console.i18n import label
from services.console.oidc import client_for
from services.console.pages import auth, grids, plans, results, templates
from services.console.sessions import ConsoleSessions
from services.console.web import ROOT, Console, ConsoleDenied, NoApiKey, login_url

HERE = Path(__file__).parent


def _wants_json(req: falcon.Request) -> bool:
    return "application/json" in (req.get_header("Accept") or "") or \
        req.get_header("X-CSRF-Token") is not None


def install(app: falcon.App, deps) -> Console:
    """Add ``/ui`` to ``app`` (before it serves its first request)."""
    console = Console(deps=deps, oidc=client_for(deps.settings),
                      secure_cookies=deps.settings.public_url.startswith("https://"))
    sessions = ConsoleSessions(console)
    app.add_middleware(sessions)

    def denied(req: falcon.Request, resp: falcon.Response, ex: ConsoleDenied, params) -> None:
        if ex.reason == "sign_in" and req.method == "GET" and not _wants_json(req):
            resp.status = falcon.HTTP_303
            resp.location = login_url(req.relative_uri)
            return
        if _wants_json(req):
            resp.status = ex.status
            resp.media = {"code": ex.reason,
                          "message": label(req.context.lang, "denied", ex.reason)}
            return
        console.render(req, resp, "denied.html", status=ex.status, reason=ex.reason)

    def no_key(req: falcon.Request, resp: falcon.Response, ex: NoApiKey, params) -> None:
        console.render(req, resp, "no_key.html", status=falcon.HTTP_409)

    app.add_error_handler(ConsoleDenied, denied)
    app.add_error_handler(NoApiKey, no_key)
    app.add_static_route(f"{ROOT}/static", str(HERE / "static"))
    _routes(app, console, sessions)
    return console


def _routes(app: falcon.App, console: Console, sessions: ConsoleSessions) -> None:
    """Row ids in paths are ``ID_FIELD``s: the API's converter, registered by ``create_app``
    on the app the console is installed on (ASCII digits: /ui/messages/+1 is no message)."""
    app.add_route(ROOT, plans.HomeResource(console))
    app.add_route(f"{ROOT}/login", auth.LoginResource(console, sessions))
    app.add_route(f"{ROOT}/logout", auth.LogoutResource(console, sessions))
    app.add_route(f"{ROOT}/auth/oidc", auth.OidcStartResource(console))
    app.add_route(f"{ROOT}/auth/callback", auth.OidcCallbackResource(console, sessions))
    app.add_route(f"{ROOT}/lang", auth.LanguageResource(console))
    app.add_route(f"{ROOT}/key", auth.ApiKeyChoiceResource(console))

    app.add_route(f"{ROOT}/templates", templates.TemplatesPage(console))
    app.add_route(f"{ROOT}/templates/new", templates.TemplateEditPage(console))
    app.add_route(f"{ROOT}/templates/preview", templates.PreviewEndpoint(console))
    app.add_route(f"{ROOT}/templates/{{template_id:{ID_FIELD}}}",
                  templates.TemplateEditPage(console))
    app.add_route(f"{ROOT}/templates/{{template_id:{ID_FIELD}}}/restore",
                  templates.RestoreEndpoint(console))

    app.add_route(f"{ROOT}/grids", grids.GridsPage(console))
    app.add_route(f"{ROOT}/grids/check", grids.CheckEndpoint(console))
    app.add_route(f"{ROOT}/grids/import", grids.ImportEndpoint(console))
    app.add_route(f"{ROOT}/grids/export", grids.ExportEndpoint(console))
    app.add_route(f"{ROOT}/grids/{{grid_id:{ID_FIELD}}}", grids.GridPage(console))

    app.add_route(f"{ROOT}/plans", plans.PlansPage(console))
    app.add_route(f"{ROOT}/plans/progress", plans.ProgressEndpoint(console))
    app.add_route(f"{ROOT}/plans/{{campaign_id:{ID_FIELD}}}/{{action}}", plans.PlanAction(console))

    app.add_route(f"{ROOT}/results", results.ResultsPage(console))
    app.add_route(f"{ROOT}/results/export", results.ExportEndpoint(console))
    app.add_route(f"{ROOT}/messages/{{message_id:{ID_FIELD}}}", results.MessagePage(console))
