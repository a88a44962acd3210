"""Campaigns through the real processes: CSV upload to SES (moto), and a scheduler killed
mid-expansion that resumes without duplicates."""

from __future__ import annotations

import signal
from collections import Counter

import requests
from sqlalchemy import text

from services.up import Stack
from shared.db.templates import create_template
from shared.intake.campaigns import CampaignRequest, create_campaign, json_rows
from shared.rendering.mustache import TemplateSource
from tests.e2e.test_end_to_end import SENDER, recipients_of, ses, stack  # noqa: F401 - fixtures
from tests.support.stack import settings_env, wait_for


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_csv_campaign_reaches_ses_once_per_recipient_with_its_values(
    stack, ses, engine, api_key  # noqa: F811 - the fixtures imported above
):
    headers = {"x-api-key": api_key[1]}
    template = requests.post(f"{stack}/v1/templates", headers=headers, timeout=10, json={
        "name": "e2e", "subject": "{{이름}}님께", "html": "<p>{{이름}} &middot; {{note}}</p>",
    }).json()
    rows = [f"user{i}@example.net,사용자{i},<b>{i}</b>" for i in range(40)]
    rows.append("user0@EXAMPLE.NET,dup,dup")  # user0@example.net again: the domain folds
    body = ("email,이름,note\n" + "\n".join(rows) + "\n").encode()
    created = requests.post(
        # A generator body goes chunked (no Content-Length), as a streaming client sends it.
        f"{stack}/v1/campaigns", headers={**headers, "content-type": "text/csv"},
        data=iter([body[:100], body[100:]]),
        params={"name": "e2e", "templateId": template["id"], "topicId": "e2e-camp",
                "from": SENDER}, timeout=30)
    assert created.status_code == 201, created.text
    assert (created.json()["total"], created.json()["duplicates"]) == (40, 1)
    campaign_id = created.json()["id"]

    def done() -> bool:
        shown = requests.get(f"{stack}/v1/campaigns/{campaign_id}", headers=headers,
                             timeout=5).json()
        return shown["phase"] == "completed" and shown

    shown = wait_for(done, 60, "the campaign to complete")
    assert shown["status"] == {"sent": 40}
    per_recipient = Counter(d for m in ses.sent_messages for d in recipients_of(m))
    assert per_recipient == Counter(f"user{i}@example.net" for i in range(40))
    for sent in ses.sent_messages:  # SES builds the MIME: moto keeps the Simple parts
        if recipients_of(sent) == {"user7@example.net"}:
            assert sent.subject == "사용자7님께"
            assert "<p>사용자7 &middot; &lt;b&gt;7&lt;/b&gt;</p>" in sent.body
            break
    else:
        raise AssertionError("user7@example.net was not sent")


def test_scheduler_killed_mid_expansion_resumes_without_duplicates(settings, engine, api_key,
                                                                   tmp_path):
    key = api_key[0]
    with engine.begin() as conn:
        template = create_template(conn, key.id, "crash",
                                   TemplateSource("Hi {{name}}", "<p>{{name}}</p>", None))
    total = 20_000
    recipients = [{"email": f"c{i}@example.com", "name": f"N{i}"} for i in range(total)]
    campaign = create_campaign(engine, key, CampaignRequest(
        name="crash", template_id=template.id, topic_id="crash", scheduled_at=None,
        from_addr=None, reply_to=None), lambda _: json_rows(recipients), settings)
    processes = Stack(settings_env(settings, MAILPIPE_EXPAND_BATCH="200"),
                      log_dir=tmp_path / "logs")
    rows = f"SELECT count(*) FROM messages WHERE campaign_id = {campaign.id}"
    try:
        processes.start("scheduler", "scheduler")
        wait_for(lambda: _count(engine, rows) > 0, 30, "expansion to start", poll=0.02)
        processes.signal("scheduler", signal.SIGKILL)
        processes.processes["scheduler"].wait(10)
        killed_at = _count(engine, rows)
        assert 0 < killed_at < total, "the kill should land mid-expansion"
        assert _count(engine, f"SELECT expanded FROM campaigns WHERE id = {campaign.id}") == (
            killed_at)
        processes.start("scheduler", "scheduler")
        wait_for(lambda: _count(engine, f"SELECT expanded FROM campaigns "
                                        f"WHERE id = {campaign.id}") == total,
                 60, "expansion to finish after the restart")
    finally:
        processes.stop_all()
    assert _count(engine, rows) == total
    assert _count(engine, f"SELECT count(DISTINCT to_addr) FROM messages "
                          f"WHERE campaign_id = {campaign.id}") == total
