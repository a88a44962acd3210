"""Integer query parameters: ``services.api.params.int_param`` reads every one, ASCII
digits only, so a value that is no such integer (``١``, `` 1``, ``+1``), is repeated or is
out of bounds (ids past BIGINT included) is a 400 naming the field in mailpipe's JSON error
shape, never a 500, and the request leaves nothing behind."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.hostile import footprint

TEMPLATE = {"name": "welcome", "subject": "Hi {{name}}", "html": "<p>{{name}}</p>", "text": None}
PAST_BIGINT = "9223372036854775808"


@pytest.fixture
def template_url(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json=TEMPLATE)
    assert result.status_code == 201, result.text
    return f"/v1/templates/{result.json['id']}"


def assert_invalid(result, field: str) -> None:
    assert result.status_code == 400, result.text
    assert result.json["code"] == "invalid_parameter"
    assert result.json["field"] == field
    assert f'"{field}"' in result.json["message"]


@pytest.mark.parametrize("path", ["/v1/templates", "/v1/campaigns"])
@pytest.mark.parametrize("after", ["²", PAST_BIGINT, "-1", "abc", "1.5", ""])
def test_list_after_that_is_no_id_is_400(client, headers, path, after):
    assert_invalid(client.simulate_get(path, headers=headers, query_string=f"after={after}"),
                   "after")


@pytest.mark.parametrize("after", ["0", "9223372036854775807"])
def test_list_after_within_bigint_is_served(client, headers, after):
    for path in ("/v1/templates", "/v1/campaigns"):
        result = client.simulate_get(path, headers=headers, query_string=f"after={after}")
        assert result.status_code == 200, result.text


@pytest.mark.parametrize("version", ["²", "0", "abc", "2147483648", ""])
def test_template_version_that_is_no_version_is_400(client, headers, template_url, version):
    assert_invalid(client.simulate_get(template_url, headers=headers,
                                       query_string=f"version={version}"), "version")


def test_template_version_that_does_not_exist_is_404(client, headers, template_url):
    result = client.simulate_get(template_url, headers=headers, query_string="version=2147483647")
    assert result.status_code == 404, result.text


@pytest.mark.parametrize("hours", ["abc", "²", "0", "169", PAST_BIGINT])
def test_sent_count_hours_that_is_no_hour_count_is_400(client, headers, hours):
    assert_invalid(client.simulate_get("/v1/events/counts/sent", headers=headers,
                                       query_string=f"hours={hours}"), "hours")


@pytest.mark.parametrize("limit", ["abc", "²", "0", "1001"])
def test_suppressions_limit_out_of_bounds_is_400(client, headers, limit):
    assert_invalid(client.simulate_get("/v1/suppressions", headers=headers,
                                       query_string=f"limit={limit}"), "limit")


# -- every integer query parameter: ASCII digits only (services.api.params.int_param) ----------

#: ``(path, parameter, a valid value)`` for every integer the API reads from a query string.
#: ``{template}``, ``{list}`` and ``{campaign}`` are ids the ``ids`` fixture creates.
INTEGER_PARAMETERS = [
    ("/v1/events/counts/sent", "hours", "1"),
    ("/v1/suppressions", "limit", "1"),
    ("/v1/templates", "after", "1"),
    ("/v1/templates/{template}", "version", "1"),
    ("/v1/campaigns", "after", "1"),
    ("/v1/campaigns/{campaign}/messages", "after", "1"),
    ("/v1/campaigns/{campaign}/messages", "limit", "1"),
    ("/v1/lists", "after", "1"),
    ("/v1/lists/{list}", "after", "1"),
    ("/v1/messages?topicId=t", "after", "1"),
    ("/v1/messages?topicId=t", "limit", "1"),
]

#: Each reads as 1 (or 10) to ``int()``, which falcon's ``get_param_as_int`` uses.
NOT_ASCII_DIGITS = [
    "١",  # ARABIC-INDIC DIGIT ONE
    "۱",  # EXTENDED ARABIC-INDIC DIGIT ONE
    "१",  # DEVANAGARI DIGIT ONE
    "１",  # FULLWIDTH DIGIT ONE
    "𝟏",  # MATHEMATICAL BOLD DIGIT ONE
    " 1", "1 ", " 1 ", "\t1", "1\n", "\u00a01", "\u20031", "\u30001",
    "+1", "1_0", "1.0", "1e0", "0x1", "-0", "", "1,0",
]


@pytest.fixture
def ids(client, headers):
    template = client.simulate_post("/v1/templates", headers=headers, json=TEMPLATE)
    assert template.status_code == 201, template.text
    listed = client.simulate_post("/v1/lists", headers=headers, json={
        "name": "l", "recipients": [{"email": "a@example.net", "name": "A"}]})
    assert listed.status_code == 201, listed.text
    campaign = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "c", "templateId": template.json["id"], "topicId": "c",
        "listId": listed.json["id"]})
    assert campaign.status_code == 201, campaign.text
    return {"template": template.json["id"], "list": listed.json["id"],
            "campaign": campaign.json["id"]}


def get(client, headers, ids, path: str, query: str):
    path, _, fixed = path.format(**ids).partition("?")
    return client.simulate_get(path, headers=headers,
                               query_string="&".join(q for q in (fixed, query) if q))


@pytest.mark.parametrize(("path", "name", "valid"), INTEGER_PARAMETERS)
def test_integer_parameter_in_ascii_digits_is_served(client, headers, ids, path, name, valid):
    for value in (valid, "0" + valid):  # leading zeros are still ASCII digits
        result = get(client, headers, ids, path, f"{name}={value}")
        assert result.status_code == 200, result.text


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
@pytest.mark.parametrize(("path", "name", "valid"), INTEGER_PARAMETERS)
def test_integer_parameter_not_in_ascii_digits_is_400(client, headers, ids, engine, redis, path,
                                                      name, valid, value):
    before = footprint(engine, redis)
    assert_invalid(get(client, headers, ids, path, f"{name}={quote(value, safe='')}"), name)
    assert footprint(engine, redis) == before


@pytest.mark.parametrize(("path", "name", "valid"), INTEGER_PARAMETERS)
def test_integer_parameter_given_twice_is_400(client, headers, ids, path, name, valid):
    """Which one was meant? falcon would silently take the last."""
    assert_invalid(get(client, headers, ids, path, f"{name}={valid}&{name}={valid}"), name)


@pytest.mark.parametrize(("path", "name", "valid"), INTEGER_PARAMETERS)
def test_integer_parameter_of_thousands_of_digits_is_400(client, headers, ids, path, name,
                                                         valid):
    """Past int()'s 4300-digit limit too: out of bounds, not a 500."""
    for value in ("9" * 5000, "0" * 5000 + "1" + "0" * 30):
        assert_invalid(get(client, headers, ids, path, f"{name}={value}"), name)


def test_every_integer_query_parameter_is_read_by_int_param():
    """The strict reading has one place: nothing in the API calls falcon's own."""
    root = Path(__file__).parents[2] / "services" / "api"
    callers = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
               if ".get_param_as_int(" in p.read_text(encoding="utf-8")]
    assert callers == []


@pytest.mark.parametrize("value", ["١", " 3", "+3", "3.0", "3_0"])
def test_campaign_template_id_in_a_query_string_is_ascii_digits_only(
    client, headers, engine, redis, value,
):
    """A CSV upload's fields come in the query string: ``templateId`` is an integer too."""
    template = client.simulate_post("/v1/templates", headers=headers, json=TEMPLATE)
    before = footprint(engine, redis)
    digits = str(template.json["id"])
    result = client.simulate_post(
        "/v1/campaigns", headers={**headers, "content-type": "text/csv"},
        params={"name": "c", "topicId": "c", "templateId": value.replace("3", digits)},
        body=b"email,name\na@example.net,A\n")
    assert result.status_code == 400, result.text
    assert result.json["field"] == "templateId"
    assert footprint(engine, redis) == before


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize("spell", [lambda n: n.translate(ARABIC_INDIC), lambda n: f"+{n}",
                                   lambda n: f"%20{n}", lambda n: f"{n[0]}_{n[1:]}",
                                   lambda n: f"{n}%20"],
                         ids=["arabic-indic", "plus", "space", "underscore", "trailing"])
def test_a_row_id_in_a_path_is_ascii_digits_only(client, headers, spell):
    """falcon's int converter reads these with int() and would serve the message."""
    created = client.simulate_post("/v1/messages", headers=headers, json={"messages": [
        {"topicId": "ids", "emails": ["a@example.com"], "subject": "s", "content": "c"}]})
    assert created.status_code == 200, created.text
    number = str(created.json["messages"][0]["id"]).rjust(2, "0")
    assert client.simulate_get(f"/v1/messages/{number}", headers=headers).status_code == 200
    answer = client.simulate_get(f"/v1/messages/{spell(number)}", headers=headers)
    assert answer.status_code == 404, answer.text


def test_every_row_id_in_a_path_uses_the_strict_converter(client):
    """The console is installed on the API's app: its ids are ``ID_FIELD``s too, never
    falcon's ``int`` (which reads ``+1`` and ``١`` as 1)."""
    def templates(nodes):
        for node in nodes:
            if node.uri_template:
                yield node.uri_template
            yield from templates(node.children)

    served = list(templates(client.app._router._roots))
    assert any(t.startswith("/ui/messages/") for t in served)
    assert [t for t in served if ":int" in t] == []


@pytest.mark.parametrize("path", ["/ui/messages/+1", "/ui/messages/١", "/ui/templates/1_0"])
def test_a_console_row_id_in_a_path_is_ascii_digits_only(client, path):
    """Not even the sign-in redirect: the path names no page."""
    assert client.simulate_get("/ui/messages/1").status_code == 303
    assert client.simulate_get(path).status_code == 404
