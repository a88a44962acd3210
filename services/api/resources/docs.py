"""``/openapi.json`` and ``/docs``: the API's description, and a page for people to read it.

The description is built from the app's own routes (services.api.spec) on
the first request, when every route is registered, and kept. The page is
Redoc (MIT licence, ``static/redoc.LICENSE``), served from this process:
no CDN, so it works where the API has no way out to the internet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import falcon

STATIC = Path(__file__).resolve().parent.parent / "static"
REDOC = "redoc.standalone.js"

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mailpipe API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="openapi.json"></redoc>
<script src="docs/{redoc}"></script></body></html>
"""


class OpenApiResource:
    auth = False

    def __init__(self, describe: Callable[[], dict]) -> None:
        self._document = cache(lambda: json.dumps(describe(), ensure_ascii=False).encode())

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._document()


class DocsResource:
    auth = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _PAGE.format(redoc=REDOC)


class RedocResource:
    """The vendored renderer (about 1 MB, cached by browsers for a day)."""

    auth = False

    def __init__(self) -> None:
        self._script = cache(lambda: (STATIC / REDOC).read_bytes())

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/javascript; charset=utf-8"
        resp.cache_control = ["public", "max-age=86400"]
        resp.data = self._script()
