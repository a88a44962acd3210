"""Integer query parameters: falcon parses them (``get_param_as_int``), so a value that is
no integer, or is out of bounds (ids past BIGINT included), is a 400 naming the field in
mailpipe's JSON error shape, never a 500."""

from __future__ import annotations

import pytest

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
