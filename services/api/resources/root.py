"""``/``: the address a newcomer opens first says where everything is.

A browser (a client preferring HTML) is sent to the web console; any other
client gets a short JSON index: the service, its version and where its
description, documentation and health check are.
"""

from __future__ import annotations

import falcon

CONSOLE = "/ui"
HTML = "text/html"


def index(version: str) -> dict:
    return {"name": "mailpipe", "version": version,
            "links": {"console": CONSOLE, "docs": "/docs", "openapi": "/openapi.json",
                      "health": "/health"}}


class RootResource:
    auth = False

    def __init__(self, version: str) -> None:
        self._index = index(version)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The answer depends on Accept: caches must keep the two apart.
        if req.client_prefers((falcon.MEDIA_JSON, HTML)) == HTML:
            raise falcon.HTTPFound(CONSOLE, headers={"Vary": "Accept"})
        resp.vary = ("Accept",)
        resp.media = self._index
