"""Events through the real processes: API → Redis → the recorder's event actor → PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest
import requests

from shared.runtime.localservers import free_port
from tests.support.sns import TOPIC, ses_event_publishing
from tests.support.stack import running_stack, settings_env, wait_for

RAW_SECRET = "raw-delivery-secret"


@pytest.fixture
def stack(settings, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = settings_env(settings, MAILPIPE_SECRET_KEY="e2e-secret", MAILPIPE_PUBLIC_URL=url,
                       MAILPIPE_SNS_RAW_SECRET=RAW_SECRET)
    with running_stack(env, tmp_path / "logs", port=port) as (_, url):
        yield url


def test_delivery_open_and_click_are_recorded_by_the_running_recorder(stack, settings, api_key):
    headers = {"x-api-key": api_key[1]}
    answer = requests.post(f"{stack}/v1/messages", headers=headers, timeout=10, json={
        "messages": [{"topicId": "e2e-events", "emails": ["reader@example.net"], "subject": "S",
                      "content": '<p><a href="https://example.com/x">x</a></p>'}]})
    assert answer.status_code == 200, answer.text
    message_id = answer.json()["messages"][0]["id"]

    def shown():
        return requests.get(f"{stack}/v1/messages/{message_id}", headers=headers,
                            timeout=5).json()

    provider_id = wait_for(lambda: shown()["providerMessageId"], 30, "the message to be sent")
    delivery = requests.post(
        f"{stack}/v1/events/results", params={"token": RAW_SECRET}, timeout=5,
        data=json.dumps(ses_event_publishing("Delivery", provider_id, "reader@example.net")),
        headers={"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": "e2e-1",
                 "x-amz-sns-topic-arn": TOPIC, "x-amz-sns-rawdelivery": "true"})
    assert delivery.status_code == 200, delivery.text
    wait_for(lambda: shown()["status"] == "delivered", 30, "the delivery to be recorded")

    [eml] = list(settings.file_dir.glob("*.eml"))
    raw = eml.read_bytes().decode().replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
    pixel = re.search(r'src="([^"]*/v1/events/open\?t=[^"]*)"', raw).group(1)
    click = re.search(r'href="([^"]*/v1/events/click\?t=[^"]*)"', raw).group(1)
    agent = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
    assert requests.get(pixel.replace("&amp;", "&"), headers=agent, timeout=5).status_code == 200
    redirect = requests.get(click.replace("&amp;", "&"), headers=agent, timeout=5,
                            allow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["location"] == "https://example.com/x"

    wait_for(lambda: {"opened", "clicked"} <= {e["type"] for e in shown()["events"]}, 30,
             "the open and the click to be recorded")
    stats = requests.get(f"{stack}/v1/topics/e2e-events", headers=headers, timeout=5).json()
    assert stats["stats"]["delivered"] == 1 and stats["stats"]["opens"]["total"] == 1
