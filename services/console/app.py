"""Mounting the console on the API's falcon app: routes, the session middleware, errors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import falcon

from services.api.errors import handle_http_error
from services.api.params import ID_FIELD
from services.console.i18n import label
from services.console.oidc import client_for
from services.console.pages import (
    audit,
    auth,
    dashboard,
    grids,
    identities,
    keys,
    messages,
    people,
    plans,
    results,
    ses,
    suppressions,
    templates,
)
from services.console.sessions import ConsoleSessions
from services.console.web import (
    ROOT,
    Console,
    ConsoleDenied,
    NoApiKey,
    PageNotFound,
    from_script,
    login_url,
    safe_next,
)
from shared.i18n import Text, translate

HERE = Path(__file__).parent


def _in_console(path: str) -> bool:
    return path == ROOT or path.startswith(ROOT + "/")


def _page_of_form(req: falcon.Request) -> str:
    """Where to come back to after signing in again from a form sent with an expired
    session: the console page the form was on (the Referer), else the console's home."""
    referer = urlsplit(req.get_header("Referer") or "")
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


def install(app: falcon.App, deps) -> Console:
    """Add ``/ui`` to ``app`` (before it serves its first request)."""
    console = Console(deps=deps, oidc=client_for(deps.settings),
                      secure_cookies=deps.settings.public_url.startswith("https://"))
    sessions = ConsoleSessions(console)
    app.add_middleware(sessions)

    def denied(req: falcon.Request, resp: falcon.Response, ex: ConsoleDenied, params) -> None:
        """A script gets 401/403 JSON with the reason as its code (``session_expired``:
        its page's session ended, see static/console.js); a browser signed out goes to
        the sign-in page, and comes back where it was."""
        if ex.status == falcon.HTTP_401 and not from_script(req):
            resp.status = falcon.HTTP_303
            resp.location = login_url(req.relative_uri if req.method == "GET"
                                      else _page_of_form(req))
            return
        if from_script(req):
            resp.status = ex.status
            resp.media = {"code": ex.reason,
                          "message": label(req.context.lang, "denied", ex.reason)}
            return
        console.render(req, resp, "denied.html", status=ex.status, reason=ex.reason)

    def no_key(req: falcon.Request, resp: falcon.Response, ex: NoApiKey, params) -> None:
        console.render(req, resp, "no_key.html", status=falcon.HTTP_409)

    def not_found(req: falcon.Request, resp: falcon.Response,
                  ex: falcon.HTTPRouteNotFound | PageNotFound, params) -> None:
        """No such console page, or no such row: the console's 404 page for a browser (in
        its language, with the menu and a way back), JSON for a script; any other path
        the router did not know is the API's to answer."""
        if not _in_console(req.path):
            handle_http_error(req, resp, ex, params)
            return
        if isinstance(ex, PageNotFound):
            reason, back = ex.text, ex.back
        else:
            reason, back = Text("There is no page at this address."), ROOT + "/"
            sessions.identify(req)  # no page ran the middleware's check: the menu needs it
        if from_script(req):
            resp.status = falcon.HTTP_404
            resp.media = {"code": "not_found", "message": translate(reason, req.context.lang)}
            return
        console.render(req, resp, "not_found.html", status=falcon.HTTP_404, reason=reason,
                       back=back)

    app.add_error_handler(ConsoleDenied, denied)
    app.add_error_handler(NoApiKey, no_key)
    app.add_error_handler((falcon.HTTPRouteNotFound, PageNotFound), not_found)
    app.add_static_route(f"{ROOT}/static", str(HERE / "static"))
    _routes(app, console, sessions)
    return console


def _routes(app: falcon.App, console: Console, sessions: ConsoleSessions) -> None:
    """Row ids in paths are ``ID_FIELD``s: the API's converter, registered by ``create_app``
    on the app the console is installed on (ASCII digits: /ui/messages/+1 is no message)."""
    app.add_route(ROOT, dashboard.DashboardPage(console))
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

    app.add_route(f"{ROOT}/messages", messages.MessagesPage(console))
    app.add_route(f"{ROOT}/messages/requeue", messages.RequeueAction(console))
    app.add_route(f"{ROOT}/messages/{{message_id:{ID_FIELD}}}", messages.MessagePage(console))
    app.add_route(f"{ROOT}/messages/{{message_id:{ID_FIELD}}}/body",
                  messages.MessageBody(console))

    app.add_route(f"{ROOT}/keys", keys.KeysPage(console))
    app.add_route(f"{ROOT}/keys/{{key_id:{ID_FIELD}}}", keys.KeyPage(console))
    app.add_route(f"{ROOT}/keys/{{key_id:{ID_FIELD}}}/revoke", keys.RevokeKey(console))
    app.add_route(f"{ROOT}/keys/{{key_id:{ID_FIELD}}}/resume", keys.ResumeKey(console))
    app.add_route(f"{ROOT}/keys/{{key_id:{ID_FIELD}}}/levels", keys.KeyLevels(console))
    app.add_route(f"{ROOT}/identities", identities.IdentitiesPage(console))
    app.add_route(f"{ROOT}/ses", ses.SesPage(console))
    app.add_route(f"{ROOT}/suppressions", suppressions.SuppressionsPage(console))
    app.add_route(f"{ROOT}/suppressions/import", suppressions.ImportEndpoint(console))
    app.add_route(f"{ROOT}/suppressions/remove", suppressions.RemoveEndpoint(console))
    app.add_route(f"{ROOT}/suppressions/export", suppressions.ExportEndpoint(console))

    people_page = people.PeoplePage(console)
    app.add_route(f"{ROOT}/people", people_page)
    app.add_route(f"{ROOT}/people/invite", people.InviteAction(console, people_page))
    app.add_route(f"{ROOT}/people/local", people.LocalAccountAction(console, people_page))
    app.add_route(f"{ROOT}/people/{{person_id:{ID_FIELD}}}/{{action}}",
                  people.PersonAction(console, people_page))
    app.add_route(f"{ROOT}/audit", audit.AuditPage(console))
    app.add_route(f"{ROOT}/audit/export", audit.ExportEndpoint(console))
