"""What every console page shares: the page base class, rendering, redirects, form reading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

import falcon

from services.api.clients import client_address
from services.api.media import read_body
from services.console.i18n import templates
from shared.db.audit import Actor
from shared.db.keys import ApiKey
from shared.errors import NotFound
from shared.i18n import Text

#: Where the console lives; cookies are scoped to it.
ROOT = "/ui"

#: Roles by strength (shared/db/tables/console.py ROLES).
RANK = {"viewer": 0, "editor": 1, "admin": 2}

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ConsoleDenied(Exception):
    """Raised when a console request may not go on: not signed in, no rights, bad CSRF token."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class NoApiKey(Exception):
    """Raised when the console has no active API key to act as."""


class PageNotFound(NotFound):
    """Raised when a console page names a row the acting key does not have (a message,
    template, version, plan or list). A browser gets the console's 404 page, with
    ``back`` (the list the row would be in) as the way back; a script gets JSON."""

    def __init__(self, text: Text, back: str = ROOT + "/") -> None:
        super().__init__("not_found", text)
        self.back = back


def from_script(req: falcon.Request) -> bool:
    """Whether a console request comes from a page's script (fetch, XMLHttpRequest) rather
    than from the browser showing a page: it asks for JSON (``Accept``), carries the CSRF
    header (only a script can set one), or the browser says it is no navigation
    (``Sec-Fetch-Mode`` ``cors`` or ``same-origin``: fetch and XHR; a navigation is
    ``navigate``). A script is answered in JSON (401 with a code, 404, …), a browser
    with pages and redirects: a sign-in page handed to ``fetch`` would read as success."""
    return "application/json" in (req.get_header("Accept") or "") \
        or req.get_header("X-CSRF-Token") is not None \
        or req.get_header("Sec-Fetch-Mode") in ("cors", "same-origin")


@dataclass
class Console:
    """The console's dependencies, handed to every page."""

    deps: Any
    #: The OIDC client, or None when no client id is configured.
    oidc: Any
    secure_cookies: bool

    @property
    def engine(self):
        return self.deps.engine

    @property
    def settings(self):
        return self.deps.settings

    def actor(self, req: falcon.Request) -> Actor:
        """The signed-in person making ``req``, as the audit log names them."""
        return Actor("console", req.context.session.user.email,
                     client_address(req, self.deps.guards.trusted_proxies))

    def render(self, req: falcon.Request, resp: falcon.Response, template: str,
               status: str = falcon.HTTP_200, **values: Any) -> None:
        lang = req.context.lang
        session = getattr(req.context, "session", None)
        context = {
            "path": req.relative_uri,
            "session": session, "user": session.user if session else None,
            "role": session.user.role if session else None,
            "can_edit": bool(session) and RANK[session.user.role] >= RANK["editor"],
            "is_admin": bool(session) and session.user.role == "admin",
            "csrf": req.context.csrf, "api_key": getattr(req.context, "api_key", None),
            "api_keys": getattr(req.context, "api_keys", []), "root": ROOT,
            "oidc": self.oidc is not None,
        }
        context.update(values)
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.text = templates(lang).get_template(template).render(**context)


class Page:
    """A console resource. ``roles`` names the role each method needs (default: editor
    for an unsafe one, viewer to read); the session middleware enforces it before the
    responder runs."""

    console_page = True
    auth = False  # not the x-api-key middleware: the console has its own sessions
    public = False
    roles: dict[str, str] = {}

    def __init__(self, console: Console) -> None:
        self.console = console


def redirect(to: str) -> falcon.HTTPSeeOther:
    return falcon.HTTPSeeOther(to)


def key_of(req: falcon.Request) -> ApiKey:
    """The API key this request acts as; NoApiKey when there is none."""
    key = getattr(req.context, "api_key", None)
    if key is None:
        raise NoApiKey()
    return key


def read_form(req: falcon.Request, max_bytes: int) -> dict[str, str]:
    """An urlencoded form body as {name: last value} (empty for another body).

    Read at most ``max_bytes`` (the API's ``max_body_bytes``: 413 past it), so a
    huge POST, even before sign-in, costs no more memory than an API request.
    """
    if not (req.content_type or "").startswith(falcon.MEDIA_URLENCODED):
        return {}
    text = read_body(req, max_bytes).decode("utf-8", errors="replace")
    return {name: values[-1] for name, values in parse_qs(text, keep_blank_values=True).items()}


def form(req: falcon.Request) -> dict[str, str]:
    """The request's form, as the session middleware read it (``read_form``)."""
    return getattr(req.context, "form", None) or {}


def safe_next(value: str | None) -> str:
    """A local console path to return to after sign-in, never another site."""
    if value and value.startswith(ROOT + "/") and not value.startswith("//") \
            and "\\" not in value:
        return value
    return ROOT + "/"


def login_url(next_path: str) -> str:
    return f"{ROOT}/login?next={quote(next_path, safe='/')}"
