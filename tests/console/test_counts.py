"""Every count the console shows says what it counts, in the right plural form ("1
recipient", "1,234 recipients", "1,234명"), and a saved list counts the recipients it
holds, not the grid's blank rows."""

from __future__ import annotations

import re

import pytest

from shared.db.messages import insert_messages
from shared.db.templates import create_template
from shared.intake.campaigns import create_campaign, json_rows
from shared.intake.requests import CampaignRequest, MessageRequest
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in

#: "1 rows", "1 messages found": a count of one with a plural noun.
ONE_PLURAL = re.compile(r"(?<![\d,.])1 (recipients|messages|rows|cells|addresses|versions)\b")


@pytest.fixture(scope="module")
def plans(console) -> dict[str, int]:
    """A plan of 1,234 recipients and one of 1; topics of 1 and of 2 messages."""
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, "counts", TemplateSource(
            "s", "<p>h</p>", None))
        for topic, addresses in (("one-message", ["o1@example.com"]),
                                 ("two-messages", ["w1@example.com", "w2@example.com"])):
            insert_messages(conn, console.key.id, [MessageRequest(
                topic_id=topic, from_addr="news@example.com", recipients=addresses,
                subject="s", html="<p>h</p>")], queue_timeout=300)
    made = {}
    for name, size in (("big", 1234), ("small", 1)):
        made[name] = create_campaign(
            console.engine, console.key,
            CampaignRequest(name=name, template_id=template.id, topic_id=f"plan-{name}"),
            lambda variables, n=size: json_rows([f"r{i}@example.com" for i in range(n)]),
            console.settings).id
    return made


def _options(page, select: str) -> list[str]:
    return page.eval_on_selector_all(f"{select} option", "os => os.map(o => o.textContent)")


def _no_one_plural(page) -> None:
    found = ONE_PLURAL.findall(page.locator("main").inner_text())
    assert not found, found


def test_plan_cards_and_the_results_say_what_they_count(page, console, plans):
    sign_in(page, console, "viewer")
    assert page.locator(f'[data-total="{plans["big"]}"]').inner_text() == "1,234 recipients"
    assert page.locator(f'[data-total="{plans["small"]}"]').inner_text() == "1 recipient"
    _no_one_plural(page)
    shot(page, "plans-counts")
    page.goto(f"{console.url}/ui/results?plan={plans['big']}")
    assert page.locator("#plan-total").inner_text() == "1,234 recipients"
    options = _options(page, "select[name=topic]")
    assert "one-message (1 message)" in options and "two-messages (2 messages)" in options
    page.goto(f"{console.url}/ui/results?q=o1%40example.com")
    _no_one_plural(page)


def test_counts_in_korean(korean_page, console, plans):
    page = korean_page
    sign_in(page, console, "viewer")
    assert page.locator(f'[data-total="{plans["big"]}"]').inner_text() == "1,234명"
    page.goto(f"{console.url}/ui/results?topic=two-messages")
    assert "two-messages (메시지 2건)" in _options(page, "select[name=topic]")


def test_a_saved_grid_counts_its_recipients_not_its_blank_rows(page, console, plans):
    sign_in(page, console, "editor")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    saved = page.request.post(f"{console.url}/ui/grids", headers={"X-CSRF-Token": csrf}, data={
        "name": "with blanks", "columns": ["email"],
        "rows": [["a@example.com"], [""], ["b@example.com"], ["  "], [""]]})
    assert saved.status == 200 and saved.json()["total"] == 2
    page.goto(f"{console.url}/ui/plans")
    labels = _options(page, "select[name=grid]")
    assert "with blanks (2 recipients)" in labels, labels
    page.goto(f"{console.url}/ui/grids")
    link = page.locator(f'[data-list="{saved.json()["id"]}"]')
    assert link.inner_text() == "with blanks (2 recipients)"
