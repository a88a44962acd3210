"""The results page of a topic no message has: said so ("not found"), not a dashboard of
zeros; a plan that has not started yet says it has no messages yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.db.messages import insert_messages
from shared.db.templates import create_template
from shared.intake.campaigns import create_campaign, json_rows
from shared.intake.requests import CampaignRequest, MessageRequest
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in


@pytest.fixture(scope="module")
def plan_id(console) -> int:
    """Messages in topic 'known', and a plan due tomorrow (topic 'later', no message yet)."""
    with console.engine.begin() as conn:
        insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="known", from_addr="news@example.com",
            recipients=["k1@example.com", "k2@example.com"], subject="s", html="<p>h</p>")],
            queue_timeout=300)
        template = create_template(conn, console.key.id, "later", TemplateSource(
            "s", "<p>h</p>", None))
    return create_campaign(
        console.engine, console.key,
        CampaignRequest(name="내일", template_id=template.id, topic_id="later",
                        scheduled_at=datetime.now(UTC) + timedelta(days=1)),
        lambda variables: json_rows([{"email": "l1@example.com"}, {"email": "l2@example.com"}]),
        console.settings).id


def test_an_unknown_topic_is_said_not_found_instead_of_zeros(korean_page, console, plan_id):
    page = korean_page
    sign_in(page, console, "viewer")
    answer = page.goto(f"{console.url}/ui/results?topic=nope")
    assert answer.status == 404
    assert page.locator("#no-messages").inner_text() == "토픽이 “nope”인 메시지가 없습니다."
    assert page.locator("#stats").count() == 0 and page.locator("#export").count() == 0
    assert page.locator("select[name=topic]").is_visible()  # another topic is one pick away
    shot(page, "results-unknown-topic-korean")

    known = page.goto(f"{console.url}/ui/results?topic=known")
    assert known.status == 200
    assert page.locator("#no-messages").count() == 0
    assert page.locator('[data-stat="sent"]').is_visible()


def test_a_plan_not_started_has_no_messages_yet(korean_page, console, plan_id):
    page = korean_page
    sign_in(page, console, "viewer")
    answer = page.goto(f"{console.url}/ui/results?plan={plan_id}")
    assert answer.status == 200  # the plan is there; its messages are not made yet
    assert page.locator("#no-messages").inner_text() == (
        "이 계획의 메시지는 아직 없습니다. 발송이 시작되면 만들어집니다.")
    assert page.locator("#plan-total").inner_text() == "2명"
    assert page.locator("#stats").count() == 0


def test_an_unknown_topic_in_english(page, console, plan_id):
    sign_in(page, console, "viewer")
    assert page.goto(f"{console.url}/ui/results?topic=nope").status == 404
    assert page.locator("#no-messages").inner_text() == "No messages with topic “nope”."
