"""Sign-in (local password or OIDC), sign-out, language, and the API key an admin acts as."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict

import falcon

from services.api.clients import client_address
from services.api.params import row_id
from services.console.allowlist import allowed
from services.console.oidc import OidcError, Pending
from services.console.passwords import verify_password
from services.console.sessions import LANG_COOKIE, ConsoleSessions
from services.console.web import ROOT, Page, PageNotFound, form, redirect, safe_next
from shared.db.console_accounts import accounts_exist, find_user, oidc_user, set_session_key
from shared.errors import TooManyRequests
from shared.i18n import LANGUAGES, Text
from shared.rate.intake import note_failure, refuse_if_failing

log = logging.getLogger("mailpipe.console")

#: One sign-in attempt's state lives this long (seconds) in Redis, and is used once.
PENDING_TTL = 600
OIDC_COOKIE = "mp_oidc"


def _pending_key(state: str) -> str:
    return f"mailpipe:console:oidc:{state}"


def _no_oidc() -> PageNotFound:
    """The sign-in routes of an identity provider the console has none of: no such page."""
    return PageNotFound(Text("Sign-in with an identity provider is not configured here."),
                        back=f"{ROOT}/login")


class LoginResource(Page):
    public = True

    def __init__(self, console, sessions: ConsoleSessions) -> None:
        super().__init__(console)
        self.sessions = sessions

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.context.session is not None:
            raise redirect(safe_next(req.get_param("next")))
        self.console.render(req, resp, "login.html", next=safe_next(req.get_param("next")),
                            admin_hint=self._admin_hint(local=False))

    def _admin_hint(self, *, local: bool) -> str | None:
        """How accounts are made (``mailpipe admins create``), said only where it helps: no
        account exists yet (a new installation), or a password failed where no account has
        one (``local``). A visitor of a console that has accounts is not told."""
        with self.console.engine.connect() as conn:
            if accounts_exist(conn, local=local):
                return None
        return "no_local_accounts" if local else "no_accounts"

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = form(req)
        email, password = data.get("email", ""), data.get("password", "")
        # Wrong passwords are charged to the address's failed-authentication
        # budget, the API's: past it, 429 before any (64 MiB argon2) verify.
        guards = self.console.deps.guards
        address = client_address(req, guards.trusted_proxies)
        try:
            refuse_if_failing(guards.auth_failures, address)
        except TooManyRequests as exc:
            log.warning("console sign-in refused for %s: too many failed sign-ins", address)
            resp.set_header("Retry-After", str(math.ceil(exc.retry_after)))
            self.console.render(req, resp, "login.html", status=falcon.HTTP_429,
                                next=safe_next(data.get("next")), email=email,
                                error=Text("Too many failed sign-ins from this address. Try "
                                           "again in %(seconds)s seconds.",
                                           seconds=math.ceil(exc.retry_after)))
            return
        with self.console.engine.connect() as conn:
            user = find_user(conn, email) if email else None
        if not verify_password(user.password_hash if user else None, password):
            note_failure(guards.auth_failures, address)
            self.console.render(req, resp, "login.html", status=falcon.HTTP_401,
                                next=safe_next(data.get("next")),
                                error=Text("Wrong email or password."),
                                email=email, admin_hint=self._admin_hint(local=True))
            return
        self.sessions.sign_in(resp, user)
        raise redirect(safe_next(data.get("next")))


class LogoutResource(Page):
    roles = {"POST": "viewer"}

    def __init__(self, console, sessions: ConsoleSessions) -> None:
        super().__init__(console)
        self.sessions = sessions

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.sessions.sign_out(req, resp, everywhere=form(req).get("everywhere") == "1")
        resp.status = falcon.HTTP_303
        resp.location = f"{ROOT}/login"


class OidcStartResource(Page):
    """A link, not a form: form-action 'self' would stop the redirect to the issuer."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.console.oidc is None:
            raise _no_oidc()
        try:
            url, pending = self.console.oidc.begin(safe_next(req.get_param("next")))
        except OidcError as exc:
            log.error("OIDC sign-in unavailable: %s", exc)
            self.console.render(req, resp, "login.html", status=falcon.HTTP_503,
                                next=ROOT + "/", error=Text("Sign-in with the identity provider is "
                                                           "unavailable right now."))
            return
        self.console.deps.redis.set(_pending_key(pending.state), json.dumps(asdict(pending)),
                                    ex=PENDING_TTL)
        # Binds the attempt to this browser: a callback URL replayed elsewhere fails.
        resp.set_cookie(OIDC_COOKIE, pending.state, path=ROOT, http_only=True,
                        secure=self.console.secure_cookies, same_site="Lax",
                        max_age=PENDING_TTL)
        raise redirect(url)


class OidcCallbackResource(Page):
    public = True

    def __init__(self, console, sessions: ConsoleSessions) -> None:
        super().__init__(console)
        self.sessions = sessions

    def _refuse(self, req, resp, reason: Text, status=falcon.HTTP_403) -> None:
        self.console.render(req, resp, "refused.html", status=status, reason=reason)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.console.oidc is None:
            raise _no_oidc()
        resp.unset_cookie(OIDC_COOKIE, path=ROOT)
        state = req.get_param("state") or ""
        cookie = (req.get_cookie_values(OIDC_COOKIE) or [""])[0]
        stored = self.console.deps.redis.getdel(_pending_key(state)) if state else None
        if not stored or cookie != state:
            self._refuse(req, resp, Text("This sign-in attempt expired or was started in another "
                                         "browser. Please sign in again."), falcon.HTTP_400)
            return
        pending = Pending(**json.loads(stored))
        try:
            identity = self.console.oidc.finish(pending, dict(req.params))
        except OidcError as exc:
            log.warning("OIDC sign-in failed: %s", exc)
            self._refuse(req, resp, Text("The identity provider's answer could not be verified."),
                         falcon.HTTP_400)
            return
        if not allowed(identity.email, self.console.settings.console_allow):
            log.warning("OIDC sign-in refused for %s: not in MAILPIPE_CONSOLE_ALLOW",
                        identity.email)
            self._refuse(req, resp, Text("%(email)s is not allowed to use this console. Ask an "
                                         "administrator to add it to MAILPIPE_CONSOLE_ALLOW.",
                                         email=identity.email))
            return
        with self.console.engine.begin() as conn:
            user = oidc_user(conn, identity.email, identity.subject,
                             self.console.settings.console_default_role)
        if user is None:
            log.warning("OIDC sign-in refused for %s: the account is disabled or bound to "
                        "another subject than %s", identity.email, identity.subject)
            self._refuse(req, resp, Text("The console account of %(email)s is disabled or "
                                         "belongs to another sign-in identity. Ask an "
                                         "administrator.", email=identity.email))
            return
        self.sessions.sign_in(resp, user)
        raise redirect(pending.next_path)


class LanguageResource(Page):
    """``GET /ui/lang?to=ko&next=…``: a display preference in a cookie, nothing on the server."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        lang = req.get_param("to")
        if lang in LANGUAGES:
            resp.set_cookie(LANG_COOKIE, lang, path=ROOT, http_only=True, same_site="Lax",
                            secure=self.console.secure_cookies, max_age=365 * 86400)
        raise redirect(safe_next(req.get_param("next")))


class ApiKeyChoiceResource(Page):
    """An admin picks which API key (tenant) this session acts as."""

    roles = {"POST": "admin"}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = form(req)
        wanted = row_id(data.get("key", ""))
        if wanted not in {k.id for k in req.context.api_keys}:
            raise falcon.HTTPBadRequest(description="key: not an active API key")
        with self.console.engine.begin() as conn:
            set_session_key(conn, req.context.session_id, wanted)
        raise redirect(safe_next(data.get("next")))
