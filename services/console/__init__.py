"""The web console under ``/ui``: sign-in, templates, recipient grids, send plans, results.

Served by the API process (``install`` mounts it on the falcon app). Every
page acts as one API key, and calls the same domain functions as the REST
resources (``shared.intake``, ``shared.db``); nothing here re-implements a
rule. Pages are rendered on the server (Jinja2); the few scripts and the
vendored editor are static files, so there is no front-end build.
"""
