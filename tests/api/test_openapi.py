"""The OpenAPI description against the live app: schemathesis, every operation, real databases.

Each operation gets a few generated requests (and its examples); no answer
may be a 5xx, break the description (status, content type, headers, body)
or crash the app. The description itself is built from the app's router,
so every served route is in it; the test below also proves the converse.
"""

from __future__ import annotations

import falcon.testing
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.api.app import ApiDeps, create_app
from services.api.spec.build import OPERATIONS, openapi, openapi_path, served_routes

#: Generated requests per operation (positive and negative): the run stays near a minute.
EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def app(settings, engine, broker, redis):
    # Synchronous sends would wait for a sender that is not running: keep them short;
    # and the intake budget must not turn the run into 429s.
    # A secret key: tenant sends store their SMTP password encrypted, links are signed.
    quick = settings.model_copy(update={"max_sync_wait": 0.2, "intake_rate": 10_000.0,
                                        "intake_burst": 10_000, "secret_key": "test-secret"})
    return create_app(ApiDeps(quick, engine, broker, redis))


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.fixture
def seeded(app, headers) -> dict:
    """Path fields naming real rows (made through the API), so operations on one are tried too."""
    client = falcon.testing.TestClient(app, headers=headers)

    def made(path: str, body: dict) -> int:
        answer = client.simulate_post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json["messages"][0]["id"] if path == "/v1/messages" else answer.json["id"]

    template = made("/v1/templates", {"name": "t", "subject": "Hi {{name}}", "html": "<p>x</p>"})
    webhook = made("/v1/webhooks", {"url": "https://hooks.example.com/in"})
    return {
        "template_id": template,
        "list_id": made("/v1/lists", {"name": "l", "recipients": [{"email": "a@example.com",
                                                                    "name": "A"}]}),
        "campaign_id": made("/v1/campaigns", {"name": "c", "templateId": template,
                                              "topicId": "welcome", "recipients": [
                                                  {"email": "b@example.com", "name": "B"}]}),
        "message_id": made("/v1/messages", {"messages": [{
            "topicId": "welcome", "emails": ["c@example.com"], "subject": "s",
            "content": "<p>c</p>"}]}),
        "email": client.simulate_post("/v1/suppressions", json={"emails": ["d@example.com"]})
        .json["added"][0],
        "topic_id": "welcome",
        "webhook_id": webhook,
        "delivery_id": client.simulate_post(f"/v1/webhooks/{webhook}/test").json["deliveryId"],
    }


def _examples(operation, path: str, method: str, fields: dict, seeded: dict) -> list:
    """The declared examples, on real rows: each operation's happy path is tried at least once."""
    declared = OPERATIONS[(path, method)]
    cases = []
    for body in declared.bodies or [None]:
        example = body.example if body is not None else None
        if isinstance(example, dict) and "templateId" in example:
            example = {**example, "templateId": seeded["template_id"]}
        extra = {} if body is None else {"body": example, "media_type": body.media}
        cases.append(operation.Case(path_parameters=fields, **extra))
    return cases


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS), ids=lambda v: v)
def test_every_operation_answers_as_described(api_schema, headers, seeded, path, method):
    operation = api_schema[path][method.upper()]
    fields = {name: value for name, value in seeded.items() if "{" + name + "}" in path}
    if "{action}" in path:
        fields["action"] = "pause"
    for case in _examples(operation, path, method, fields, seeded):
        case.call_and_validate(headers=headers, checks=CHECKS)
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE),
                      operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fields))

    @given(case=cases)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_as_described(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    answers_as_described()


def test_every_served_route_is_described_and_every_description_is_served(app):
    served = {(openapi_path(template), method)
              for template, _, methods in served_routes(app) for method in methods}
    document = openapi(app)
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == described
    # HEAD shares GET's declaration; nothing is declared that the app does not serve.
    assert set(OPERATIONS) <= {(path, "get" if m == "head" else m) for path, m in served}


def test_a_row_id_in_a_path_is_described_as_the_integer_it_must_be(app):
    """The route field is ``ID_FIELD`` (``IdConverter``): the description keeps its bounds."""
    [field] = openapi(app)["paths"]["/v1/messages/{message_id}"]["get"]["parameters"][:1]
    assert field["name"] == "message_id"
    assert field["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def test_docs_page_renders_the_description_with_the_vendored_renderer(app):
    client = falcon.testing.TestClient(app)
    page = client.simulate_get("/docs")
    assert page.status_code == 200 and "openapi.json" in page.text
    script = client.simulate_get("/docs/redoc.standalone.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    document = client.simulate_get("/openapi.json").json
    assert document["openapi"] == "3.1.0"
    tags = {op["tags"][0] for item in document["paths"].values() for op in item.values()}
    assert {"messages", "compat: Biz E-mail API", "compat: fureweb mailer"} <= tags
