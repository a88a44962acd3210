"""The API's OpenAPI 3.1 description, built from the routes the app serves.

``build.openapi(app)`` walks the falcon router; each (route, method) it finds
has its operation declared in ``native`` or ``compat`` (``Operation``): the
request models are the pydantic schemas that validate requests, the answers
are the models in ``answers``. A route without a declaration is an error.
"""
