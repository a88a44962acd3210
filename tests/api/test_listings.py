"""Listing a topic's and a campaign's messages with their opens, clicks and bounces."""

from __future__ import annotations

import csv
import io

from services.scheduler.expand import expand_step
from shared.db.keys import create_key
from tests.api import test_campaigns_api as campaigns
from tests.api import test_message_life as life
from tests.sender.test_suppression_and_tracking import html_of, sent_mail
from tests.support.sns import ses_identity_notification

world = life.world  # the API, a sender step and the recorder, on the suite's servers
links = life.links
template_id = campaigns.template_id
make_campaign = campaigns.make_campaign


def _by_email(listing: dict) -> dict:
    return {m["email"]: m for m in listing["messages"]}


def test_topic_listing_shows_each_recipients_state_opens_clicks_and_bounce(world, settings):
    ids = world.post(["reader@example.com", "clicker@example.com", "gone@example.com",
                      "later@example.com"])
    world.send(ids[:3])
    world.age(3600)  # read an hour later: hits right after a send look like scanners
    mails = {m["To"]: m for m in sent_mail(settings)}
    _, pixel = links(html_of(mails["reader@example.com"]))
    world.hit(pixel)
    world.hit(pixel)
    world.hit(pixel, agent="Mozilla/5.0")  # a prefetcher: not a person
    click, _ = links(html_of(mails["clicker@example.com"]))
    world.hit(click)
    world.sns(ses_identity_notification("HardBounce", world.provider_id(ids[2]),
                                        "gone@example.com"))

    listing = world.get("/v1/messages", params={"topicId": "life"}).json
    rows = _by_email(listing)
    assert listing["count"] == 4 and listing["next"] is None
    assert [m["id"] for m in listing["messages"]] == sorted(ids)
    assert (rows["reader@example.com"]["opens"], rows["reader@example.com"]["clicks"]) == (2, 0)
    assert (rows["clicker@example.com"]["clicks"], rows["clicker@example.com"]["status"]) == (
        1, "sent")
    assert rows["gone@example.com"]["bounced"] is True
    assert rows["gone@example.com"]["status"] == "bounced"
    assert (rows["later@example.com"]["status"], rows["later@example.com"]["statusCode"]) == (
        "queued", 1)

    def emails(**params):
        answer = world.get("/v1/messages", params={"topicId": "life", **params})
        assert answer.status_code == 200, answer.text
        return sorted(_by_email(answer.json))

    assert emails(opened="true") == ["reader@example.com"]
    assert emails(clicked="true") == ["clicker@example.com"]
    assert emails(bounced="true") == ["gone@example.com"]
    assert emails(opened="false", bounced="false") == ["clicker@example.com",
                                                       "later@example.com"]
    assert emails(state="queued,bounced") == ["gone@example.com", "later@example.com"]
    assert emails(email="READER@example.com") == ["reader@example.com"]
    assert emails(topicId="another") == []


def test_listing_pages_by_id_and_exports_every_row_as_csv(world):
    ids = world.post([f"r{i}@example.com" for i in range(5)])
    first = world.get("/v1/messages", params={"topicId": "life", "limit": 2}).json
    assert [m["id"] for m in first["messages"]] == sorted(ids)[:2]
    second = world.get(first["next"].split("?")[0],
                       query_string=first["next"].split("?")[1]).json
    assert [m["id"] for m in second["messages"]] == sorted(ids)[2:4]

    answer = world.get("/v1/messages", params={"topicId": "life", "format": "csv"})
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert sorted(r["email"] for r in rows) == [f"r{i}@example.com" for i in range(5)]
    assert {r["status"] for r in rows} == {"queued"}  # due now: enqueued at once
    by_accept = world.get("/v1/messages", params={"topicId": "life"},
                          headers={"Accept": "text/csv"})
    assert by_accept.content == answer.content


def test_listing_refuses_bad_filters_by_name(world):
    for params, field in (({}, "topicId"), ({"topicId": "t", "state": "lost"}, "state"),
                          ({"topicId": "t", "opened": "maybe"}, "opened"),
                          ({"topicId": "t", "limit": "5000"}, "limit"),
                          ({"topicId": "t", "after": "²"}, "after"),
                          ({"topicId": "t", "email": "not-an-address"}, "email")):
        answer = world.get("/v1/messages", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert field in answer.text


def test_campaign_listing_lists_its_recipients_only_and_only_for_its_key(
        client, headers, template_id, engine, settings, broker):
    campaign = make_campaign(client, headers, template_id, 3)
    make_campaign(client, headers, template_id, 2, name="other")
    while expand_step(engine, broker, settings):
        pass
    url = f"/v1/campaigns/{campaign['id']}/messages"
    listing = client.simulate_get(url, headers=headers).json
    assert sorted(m["email"] for m in listing["messages"]) == [
        "r0@example.com", "r1@example.com", "r2@example.com"]
    assert {m["campaignId"] for m in listing["messages"]} == {campaign["id"]}
    with engine.begin() as conn:
        _, other_key = create_key(conn, "other", [])
    assert client.simulate_get(url, headers={"x-api-key": other_key}).status_code == 404
    missing = client.simulate_get("/v1/campaigns/999999/messages", headers=headers)
    assert missing.status_code == 404 and missing.json["code"] == "campaign_not_found"
