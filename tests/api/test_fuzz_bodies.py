"""Property-based fuzz of every JSON endpoint's body against the real app and database:
whatever the body, the answer is never a 5xx, and a refusal stores and queues nothing.

Bodies start from a valid one whose fields are kept, dropped, wrapped in hostile text
(every line break, NUL, lone surrogates, Unicode digits, markup) or replaced by any JSON
value (huge integers, NaN, nested lists and objects). Derandomized and bounded, so the
run is the same in CI and takes well under a minute; each test prints how many distinct
bodies it sent and the answers it got.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.db.keys import create_key
from tests.support.hostile import AsciiJsonClient, footprint
from tests.support.settings import changed

EXAMPLES = 100

ODD = ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00",
       "\ud800", "\udfff", "\x7f", "\t", "²", "٣", "한", "\u200b", "\ufeff", "<", ">", "@", ":",
       ";", ",", '"', "\\", "{{", "}}", "=?utf-8?B?", " ", "a", "Z", "."]
hostile_text = st.lists(st.sampled_from(ODD) | st.characters(), max_size=12).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=6,
)


def like(value) -> st.SearchStrategy:
    """Values near ``value``: itself, itself wrapped in hostile text, or any JSON."""
    if isinstance(value, dict):
        return st.one_of(mutated(value), json_values)
    if isinstance(value, list):
        return st.one_of(st.lists(like(value[0]), max_size=3), json_values)
    if isinstance(value, str):
        wrapped = st.tuples(hostile_text, hostile_text).map(lambda p: p[0] + value + p[1])
        return st.one_of(st.just(value), wrapped, hostile_text, json_values)
    if isinstance(value, bool):
        return st.one_of(st.just(value), json_values)
    if isinstance(value, int):
        return st.one_of(st.just(value), st.integers(-(2**70), 2**70), json_values)
    return json_values


_DROP = object()


def mutated(valid: dict) -> st.SearchStrategy:
    """``valid`` with one or two fields changed or dropped, and maybe a stray field: most
    bodies stay close enough to valid to reach the rules past the first check."""
    keys = sorted(valid)

    def change(chosen: list[str]) -> st.SearchStrategy:
        return st.fixed_dictionaries({
            k: st.one_of(like(v), st.just(_DROP)) if k in chosen else st.just(v)
            for k, v in valid.items()})

    extra = st.dictionaries(hostile_text, json_values, max_size=1) | st.just({})
    changed_fields = st.lists(st.sampled_from(keys), max_size=2, unique=True).flatmap(change)
    return st.tuples(changed_fields, extra).map(
        lambda p: {**p[1], **{k: v for k, v in p[0].items() if v is not _DROP}})


def bodies(valid: dict) -> st.SearchStrategy:
    return st.one_of(mutated(valid), mutated(valid), mutated(valid), json_values)


ATTACHMENT = {"filename": "a.txt", "content": "aGk=", "contentType": "text/plain",
              "contentId": "c1"}
MESSAGE = {"topicId": "t", "emails": ["a@example.net"], "subject": "s", "content": "<p>c</p>",
           "text": "t", "headers": {"X-Tag": "v"}, "from": "s@example.com",
           "replyTo": "r@example.com", "scheduledAt": "2030-01-01T00:00:00Z", "tracking": True,
           "bulk": False, "attachments": [ATTACHMENT]}
BIZ = {"to": "<a@nexus.co.kr>", "cc": "<b@nexus.co.kr>", "bcc": "c@nexus.co.kr", "subject": "s",
       "body": "<p>b</p>", "use_html": True, "from": "x@nexus.co.kr",
       "reply_id": "<a@nexus.co.kr>"}
TENANT = {**BIZ, "smtp_url": "smtp://smtp.nexus.co.kr:587", "user": "u@nexus.co.kr",
          "password": "p", "ssl": True}
FUREWEB = {"from": "noreply@fureweb.com", "to": ["a@example.net"], "cc": ["b@example.net"],
           "title": "t", "content": "<p>c</p>", "isSync": False}

TRIED: Counter = Counter()


@pytest.fixture
def app(settings, make_client, api_key, engine, redis):
    client = AsciiJsonClient(make_client(changed(
        settings, biz_api_key=api_key[1], secret_key="s" * 32, tenant_smtp_private=True,
        default_from="nexus@nexus.co.kr", intake_rate=1e6, intake_burst=10**6,
        max_sync_wait=0.2)))
    headers = {"x-api-key": api_key[1]}
    answer = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "news", "subject": "{{name}}, the news", "html": "<p>{{name}} {{city}}</p>"})
    assert answer.status_code == 201, answer.text
    with engine.begin() as conn:
        fureweb_key = create_key(conn, "fureweb", ["fureweb.com"])[1]
    return client, headers, answer.json["id"], fureweb_key


def refused(path: str, answer) -> bool:
    """Whether the answer refuses the request, in the route's own terms."""
    if path.startswith("/email/"):
        return answer.json.get("code") != "200"
    return answer.status_code >= 400


def endpoint(path: str, valid) -> object:
    """A fuzz test of POST ``path``; ``valid`` builds the valid body from (template id, key)."""

    def run(app, engine, redis, capsys):
        client, headers, template_id, fureweb_key = app
        url = path.format(template_id=template_id)
        seen: set[str] = set()
        statuses: Counter = Counter()

        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(body=bodies(valid(template_id, fureweb_key)))
        def check(body):
            seen.add(json.dumps(body, sort_keys=True, default=repr))
            before = footprint(engine, redis)
            answer = client.simulate_post(url, headers=headers, json=body)
            statuses[answer.status_code, answer.json.get("code")] += 1
            assert answer.status_code < 500, (body, answer.text)
            assert isinstance(answer.json, dict), answer.text
            if refused(path, answer):
                assert footprint(engine, redis) == before, (body, answer.text)

        check()
        TRIED[path] = len(seen)
        with capsys.disabled():
            print(f"\nfuzz POST {path}: {len(seen)} distinct bodies, answers {dict(statuses)}")

    return run


test_fuzz_messages = endpoint("/v1/messages", lambda t, k: {"messages": [MESSAGE]})
test_fuzz_templated_messages = endpoint("/v1/messages", lambda t, k: {"messages": [{
    "topicId": "t", "emails": ["a@example.net", "b@example.net"], "templateId": t,
    "variables": {"name": "n", "city": "c"}, "recipientVariables": {"a@example.net": {
        "name": "m"}}}]})
test_fuzz_templates = endpoint("/v1/templates", lambda t, k: {
    "name": "n", "subject": "Hi {{name}}", "html": "<p>{{city}}</p>", "text": "t"})
test_fuzz_render = endpoint("/v1/templates/{template_id}/render", lambda t, k: {
    "variables": {"name": "n", "city": "c"}, "version": 1})
test_fuzz_campaigns = endpoint("/v1/campaigns", lambda t, k: {
    "name": "June", "templateId": t, "topicId": "june", "scheduledAt": "2030-01-01T00:00:00Z",
    "from": "s@example.com", "recipients": [{"email": "a@example.net", "name": "n",
                                             "city": "c"}]})
test_fuzz_suppressions = endpoint("/v1/suppressions", lambda t, k: {"emails": ["a@example.net"]})
test_fuzz_biz_send = endpoint("/email/send", lambda t, k: BIZ)
test_fuzz_biz_tenant_send = endpoint("/email/tenant/send", lambda t, k: TENANT)
test_fuzz_fureweb = endpoint("/api/mail", lambda t, k: {**FUREWEB, "key": k})
