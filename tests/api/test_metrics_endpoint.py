"""The api's /metrics: requests by route template and status; only for allowed networks."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def _requests(text: str, route: str, status: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "mailpipe_api_requests_total" and s.labels["route"] == route
               and s.labels["status"] == status)


def test_requests_are_counted_by_route_template_not_by_path(client, headers):
    before = _requests(client.simulate_get("/metrics").text, "/v1/messages/{message_id}", "404")
    client.simulate_get("/v1/messages/123", headers=headers)
    client.simulate_get("/v1/messages/456", headers=headers)
    after = client.simulate_get("/metrics").text
    assert _requests(after, "/v1/messages/{message_id}", "404") == before + 2
    assert "/v1/messages/123" not in after


def test_metrics_are_refused_outside_the_allowed_networks(client):
    assert client.simulate_get("/metrics", remote_addr="10.1.2.3").status_code == 200
    refused = client.simulate_get("/metrics", remote_addr="203.0.113.9")
    assert refused.status_code == 403 and refused.json["code"] == "metrics_not_allowed"
