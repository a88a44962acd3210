"""The console's answer to a domain error: the API's JSON, in the reader's language.

A ``RequestError`` raised on a console route (a grid saved, a plan created,
a CSV imported, all sent by the pages' scripts) is answered as the API
answers it, ``code``, ``field`` and per-row ``errors`` included, but with
its words translated into the console's language (``req.context.lang``): the
API's own answers stay in English. Installed as an error scope of the API's
handlers (``services.api.errors.ErrorScope``) for every route under ``/ui``.
"""

from __future__ import annotations

import falcon

from services.console.web import ROOT
from shared.errors import RequestError
from shared.i18n import LANGUAGES


class _ConsoleRoutes:
    """Every route template under ``/ui`` (the console adds its routes after the scopes)."""

    def __contains__(self, template: object) -> bool:
        return isinstance(template, str) and (template == ROOT
                                              or template.startswith(f"{ROOT}/"))


class ConsoleErrors:
    """RequestErrors on console routes, translated; anything else is left to the API's."""

    routes = _ConsoleRoutes()

    def answer(self, req: falcon.Request, resp: falcon.Response, ex: Exception) -> bool:
        if not isinstance(ex, RequestError):
            return False
        lang = getattr(req.context, "lang", LANGUAGES[0])
        resp.status = falcon.code_to_http_status(ex.status)
        resp.media = ex.to_dict(lang)
        return True


ERRORS = ConsoleErrors()
