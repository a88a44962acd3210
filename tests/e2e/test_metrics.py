"""Every process kind's metrics after a small real run (SES through moto, four real processes)."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from shared.runtime.localservers import free_port
from tests.e2e import test_end_to_end as moto_stack
from tests.support.stack import running_stack, settings_env, wait_for


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of one /metrics page."""
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200, answer.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


SENDER = moto_stack.SENDER
ses = moto_stack.ses  # moto's SES backend with the sender verified


@pytest.fixture
def ports():
    return {kind: free_port() for kind in ("scheduler", "sender", "recorder")}


@pytest.fixture
def stack(settings, aws_env, ports, tmp_path):
    env = settings_env(settings, MAILPIPE_TRANSPORT="ses", MAILPIPE_SEND_RATE="50",
                       MAILPIPE_SES_BULK="false",  # moto has no SendBulkEmail
                       MAILPIPE_METRICS_DIR=str(tmp_path / "metrics"),
                       **{f"MAILPIPE_METRICS_PORT_{k.upper()}": str(p) for k, p in ports.items()})
    with running_stack(env, tmp_path / "logs", processes=2, threads=2) as (_, url):
        yield url


def _sent(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM messages WHERE state = 'sent'")).scalar()


def test_each_process_kind_counts_a_small_run(stack, ses, engine, api_key, ports):
    key = {"x-api-key": api_key[1]}
    posted = requests.post(f"{stack}/v1/messages", headers=key, timeout=10, json={"messages": [
        {"topicId": "m", "emails": [f"u{i}@example.net" for i in range(5)], "subject": "Hi",
         "content": "<p>hi</p>", "from": SENDER}]})
    assert posted.status_code == 200, posted.text
    template = requests.post(f"{stack}/v1/templates", headers=key, timeout=10, json={
        "name": "t", "subject": "Hi {{name}}", "html": "<p>{{name}}</p>"}).json()
    campaign = requests.post(f"{stack}/v1/campaigns", headers=key, timeout=10, json={
        "name": "c", "templateId": template["id"], "topicId": "c", "from": SENDER,
        "recipients": [{"email": "c1@example.net", "name": "A"},
                       {"email": "c2@example.net", "name": "B"}]})
    assert campaign.status_code == 201, campaign.text
    wait_for(lambda: _sent(engine) == 7, 60, "7 messages sent")

    recorder = f"http://127.0.0.1:{ports['recorder']}/metrics"
    wait_for(lambda: value(scrape(recorder), "mailpipe_outcomes_recorded_total",
                           state="sent") == 7, 10, "the recorder's count")
    recorded = scrape(recorder)
    assert value(recorded, "mailpipe_recorder_lag_seconds_count") == 7

    sender = scrape(f"http://127.0.0.1:{ports['sender']}/metrics")  # both children, summed
    assert value(sender, "mailpipe_sends_total", transport="ses", outcome="sent") == 7
    assert value(sender, "mailpipe_recipients_sent_total") == 7
    assert value(sender, "mailpipe_ses_call_duration_seconds_count") == 7
    assert len(ses.sent_messages) == 7

    scheduler = scrape(f"http://127.0.0.1:{ports['scheduler']}/metrics")
    assert value(scheduler, "mailpipe_campaign_rows_expanded_total") == 2
    assert value(scheduler, "mailpipe_send_rate_limit") == 50
    assert ("mailpipe_queue_depth", frozenset({("queue", "mailpipe.send")})) in scheduler
    assert value(scheduler, "mailpipe_oldest_queued_seconds") == 0  # nothing left queued

    api = scrape(f"{stack}/metrics")
    routes = Counter({dict(labels)["route"]: v for (name, labels), v in api.items()
                      if name == "mailpipe_api_requests_total"
                      and dict(labels)["status"].startswith("2")})
    assert routes["/v1/messages"] >= 1 and routes["/v1/campaigns"] >= 1
    assert value(api, "mailpipe_api_request_duration_seconds_count", route="/v1/templates",
                 method="POST") == 1
