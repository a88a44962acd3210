"""Each door records itself on the rows it stores (``messages.source``): the native API,
the Biz E-mail API, the fureweb mailer and a campaign's expansion."""

from __future__ import annotations

from sqlalchemy import select

from services.scheduler.expand import expand_step
from shared.db.tables import messages
from shared.db.templates import create_template
from shared.intake.campaigns import create_campaign, json_rows
from shared.intake.requests import CampaignRequest
from shared.rendering.mustache import TemplateSource
from tests.support.settings import changed


def test_each_door_records_its_source(settings, make_client, engine, broker, api_key):
    key, plain = api_key
    # Nobody sends here: a Biz send answers when its wait (0.1 s) runs out.
    settings = changed(settings, biz_api_key=plain, max_sync_wait=0.1)
    client = make_client(settings)
    native = client.simulate_post("/v1/messages", headers={"x-api-key": plain}, json={
        "messages": [{"topicId": "t", "emails": ["native@example.com"], "subject": "s",
                      "content": "<p>h</p>"}]})
    assert native.status_code == 200, native.text
    biz = client.simulate_post("/email/send", headers={"Accept": "application/json"},
                               json={"to": "<biz@example.com>", "subject": "s", "body": "b"})
    assert biz.json["code"] == "200", biz.text
    fureweb = client.simulate_post("/api/mail", json={
        "key": plain, "from": "sender@example.com", "to": ["fureweb@example.com"],
        "title": "t", "content": "c"})
    assert fureweb.json["code"] == 200, fureweb.text
    with engine.begin() as conn:
        template = create_template(conn, key.id, "t", TemplateSource("s", "<p>h</p>", None))
    create_campaign(engine, key, CampaignRequest(name="c", template_id=template.id,
                                                 topic_id="plan"),
                    lambda variables: json_rows([{"email": "plan@example.com"}]), settings)
    while expand_step(engine, broker, settings):
        pass
    with engine.connect() as conn:
        sources = dict(conn.execute(select(messages.c.to_addr, messages.c.source)).all())
    assert sources == {"native@example.com": "api", "biz@example.com": "biz",
                       "fureweb@example.com": "fureweb", "plan@example.com": "campaign"}
