"""Console sessions, CSRF tokens, roles and security headers, as one falcon middleware.

- The session cookie holds an opaque random id (``shared.db.console_accounts``
  stores only its hash): HttpOnly, SameSite=Lax, scoped to ``/ui``, Secure
  when the public URL is https.
- Every unsafe request (POST, PUT, PATCH, DELETE) to the console carries the
  CSRF token, as the form field ``csrf`` or the ``X-CSRF-Token`` header: the
  session's token when signed in, else the pre-session token of the sign-in
  form (cookie ``mp_pre``, double-submitted).
- The role each method of a page needs (``Page.roles``: by default editor for
  an unsafe method, viewer to read; an admin-only page names ``GET`` too) is
  checked here, before the responder, so no route can forget it.
- Every ``/ui`` answer gets a Content-Security-Policy (scripts only from the
  console's own files) and the usual anti-framing and no-sniff headers.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta

import falcon

from services.console.allowlist import allowed
from services.console.i18n import pick_language
from services.console.web import RANK, ROOT, UNSAFE, Console, ConsoleDenied, form, read_form
from shared.db.console_accounts import (
    ConsoleSession,
    create_session,
    delete_session,
    end_sessions,
    find_session,
)
from shared.db.keys import ApiKey, list_keys

SESSION_COOKIE = "mp_session"
PRE_COOKIE = "mp_pre"
LANG_COOKIE = "mp_lang"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: https:; font-src 'self' data:; frame-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")

log = logging.getLogger("mailpipe.console")


def _active_keys(conn) -> list[ApiKey]:
    return [k for k in list_keys(conn) if k.revoked_at is None]


def acting_key(keys: list[ApiKey], role: str, chosen: int | None) -> ApiKey | None:
    """The key a session acts as: an admin's choice if still active, else the first active."""
    if role == "admin" and chosen is not None:
        for key in keys:
            if key.id == chosen:
                return key
    return keys[0] if keys else None


class ConsoleSessions:
    def __init__(self, console: Console) -> None:
        self.console = console

    # -- cookies ----------------------------------------------------------------------

    def _cookie(self, resp: falcon.Response, name: str, value: str, max_age: int | None) -> None:
        resp.set_cookie(name, value, path=ROOT, http_only=True, secure=self.console.secure_cookies,
                        same_site="Lax", max_age=max_age)

    def sign_in(self, resp: falcon.Response, user) -> None:
        """A new session (a fresh id: never one the browser had before) as a cookie."""
        hours = self.console.settings.console_session_hours
        with self.console.engine.begin() as conn:
            key = acting_key(_active_keys(conn), user.role, None)
            session_id = create_session(conn, user, key.id if key else None,
                                        timedelta(hours=hours))
        self._cookie(resp, SESSION_COOKIE, session_id, int(hours * 3600))

    def sign_out(self, req: falcon.Request, resp: falcon.Response,
                 everywhere: bool = False) -> None:
        """End this browser's session; ``everywhere``: every session of its account."""
        session_id = req.get_cookie_values(SESSION_COOKIE)
        session = getattr(req.context, "session", None)
        with self.console.engine.begin() as conn:
            if everywhere and session is not None:
                ended = end_sessions(conn, session.user.id)
                log.info("console account %s signed out of its %d sessions",
                         session.user.email, ended)
            elif session_id:
                delete_session(conn, session_id[0])
        resp.unset_cookie(SESSION_COOKIE, path=ROOT)

    # -- middleware -------------------------------------------------------------------

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith(ROOT):
            return
        req.context.lang = pick_language(
            req.get_param("lang") or (req.get_cookie_values(LANG_COOKIE) or [None])[0],
            req.get_header("Accept-Language"))
        req.context.session = None
        req.context.csrf = None
        if req.method in UNSAFE:
            req.context.form = read_form(req, self.console.settings.max_body_bytes)

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        if resource is None or not getattr(resource, "console_page", False):
            return
        session = self.identify(req)
        if session is None and not resource.public:
            # A session cookie that finds no session: it expired or was signed out.
            expired = bool(req.get_cookie_values(SESSION_COOKIE))
            raise ConsoleDenied(falcon.HTTP_401, "session_expired" if expired else "sign_in")
        req.context.csrf = session.csrf if session else self._pre_token(req, resp)
        if req.method in UNSAFE:
            self._check_csrf(req)
        if session is not None and not resource.public:
            unsafe = req.method in UNSAFE
            needed = resource.roles.get(req.method, "editor" if unsafe else "viewer")
            if RANK[session.user.role] < RANK[needed]:
                raise ConsoleDenied(falcon.HTTP_403, "forbidden" if unsafe else "forbidden_page")

    def identify(self, req: falcon.Request) -> ConsoleSession | None:
        """The request's session (None: signed out), kept in ``req.context`` with the API
        keys it may act as; also for a page the router did not find (its 404 has the menu)."""
        session_id = (req.get_cookie_values(SESSION_COOKIE) or [None])[0]
        session = None
        if session_id:
            with self.console.engine.begin() as conn:
                session = find_session(conn, session_id)
                if session is not None and not self._still_allowed(session):
                    log.warning("console session of %s ended: no longer in "
                                "MAILPIPE_CONSOLE_ALLOW", session.user.email)
                    delete_session(conn, session_id)
                    session = None
                if session is not None:
                    req.context.api_keys = _active_keys(conn)
                    req.context.api_key = acting_key(req.context.api_keys, session.user.role,
                                                     session.api_key_id)
        req.context.session = session
        req.context.session_id = session_id if session else None
        req.context.csrf = session.csrf if session else None
        return session

    def _still_allowed(self, session) -> bool:
        """An OIDC account (no password) stays signed in only while the allowlist admits it."""
        return session.user.password_hash is not None or \
            allowed(session.user.email, self.console.settings.console_allow)

    def _pre_token(self, req: falcon.Request, resp: falcon.Response) -> str:
        token = (req.get_cookie_values(PRE_COOKIE) or [None])[0]
        if not token:
            token = secrets.token_urlsafe(24)
            self._cookie(resp, PRE_COOKIE, token, None)
        return token

    def _check_csrf(self, req: falcon.Request) -> None:
        given = req.get_header("X-CSRF-Token")
        if given is None and (req.content_type or "").startswith(falcon.MEDIA_URLENCODED):
            given = form(req).get("csrf")
        if not given or not hmac.compare_digest(str(given), str(req.context.csrf)):
            raise ConsoleDenied(falcon.HTTP_403, "csrf")

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource,
                         req_succeeded: bool) -> None:
        if not req.path.startswith(ROOT):
            return
        # A page may frame one of the console's own answers, which then says so
        # (``csp``, ``frame_options``: a message's body, services/console/pages/messages.py).
        resp.set_header("Content-Security-Policy", getattr(resource, "csp", CSP))
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("X-Frame-Options", getattr(resource, "frame_options", "DENY"))
        resp.set_header("Referrer-Policy", "same-origin")
        if not req.path.startswith(ROOT + "/static/"):
            resp.set_header("Cache-Control", "no-store")
