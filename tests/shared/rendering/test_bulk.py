"""The template handed to SES renders, by SES's own rules (Handlebars, as documented), exactly
what mailpipe renders for each recipient; what it could render otherwise is left to SendEmail."""

from __future__ import annotations

import pytest

from shared.db.messages import ClaimedMessage
from shared.rendering.bulk import bulk_template, entry_values, neutral, plan_bulk
from shared.rendering.compose import Composer
from shared.rendering.tracking import Tracker
from tests.support.fake_ses import render_template

TRACKER = Tracker("k", "https://mail.example")


def message(i: int, html: str, subject: str = "Hi", variables=None, text=None,
            tracking=True) -> ClaimedMessage:
    return ClaimedMessage(i, 1, "s@example.com", f"r{i}@example.com", subject, html, text, None,
                          content_id=1, variables=variables, tracking=tracking)


def ses_renders(messages: list[ClaimedMessage], tracker=TRACKER) -> list[tuple]:
    bulk, carried, left = plan_bulk(messages, tracker)
    assert left == [] and bulk is not None
    return [tuple(render_template(part, entry.values) for part in (bulk.subject, bulk.html,
                                                                   bulk.text))
            for entry in bulk.entries]


def mailpipe_renders(messages, tracker=TRACKER) -> list[tuple]:
    return [(c.subject, c.html, c.text) for c in
            (Composer().compose(m, tracker) for m in messages)]


@pytest.mark.parametrize("html", [
    "<p>plain</p>",
    "<style>p {{ color: red }}</style><p>{{#if x}}{{> p}}{{{raw}}}{{{{four}}}} }}</p>",
    "<html><body><a href='https://a.example/?x=1&amp;y=2'>a</a>"
    "<a href=\"mailto:x@y\">m</a><a data-notrack href=\"https://b.example\">b</a></body></html>",
    "<p>&#123;&#123;charref&#125;&#125; text</p>",
])
def test_a_content_renders_alike_by_ses_rules(html):
    messages = [message(i, html) for i in range(1, 4)]
    assert ses_renders(messages) == mailpipe_renders(messages)


def test_template_values_render_alike_in_every_part():
    html = "<p>{{name}} &middot; {{{ city }}} {{name}}</p><a href='https://x.example/'>x</a>"
    messages = [message(i, html, subject="For {{name}}", text="Hi {{name}} from {{city}}",
                        variables={"name": f"사용자{i}", "city": "Seoul"}) for i in range(1, 4)]
    assert ses_renders(messages) == mailpipe_renders(messages)
    derived = [message(i, html, variables={"name": f"N{i}", "city": "Busan"}) for i in (1, 2)]
    assert ses_renders(derived) == mailpipe_renders(derived)  # text drawn from the HTML


@pytest.mark.parametrize("value", ["O'Brien", "a&b", "<b>x</b>", "x=y", " padded", "two\nlines"])
def test_a_value_ses_could_escape_is_left_to_sendemail(value):
    assert not neutral(value)
    messages = [message(1, "<p>{{v}}</p>", variables={"v": "fine"}),
                message(2, "<p>{{v}}</p>", variables={"v": value})]
    bulk, carried, left = plan_bulk(messages, None)
    assert [m.id for m in carried] == [1] and [m.id for m in left] == [2]


@pytest.mark.parametrize("html", [
    "<p>\\{{escaped}}</p>",                              # Handlebars' escape
    "<a href='https://x.example/{{id}}'>x</a>",          # a tracked URL built from a value
])
def test_a_content_ses_could_read_otherwise_is_left_to_sendemail(html):
    variables = {"id": "7"} if "{{id}}" in html else None
    first = message(1, html, variables=variables)
    assert bulk_template(first, TRACKER) is None


def test_each_entry_has_its_own_tracking_tokens_that_the_api_reads_back():
    messages = [message(i, "<a href='https://x.example/'>x</a>") for i in (5, 6)]
    template = bulk_template(messages[0], TRACKER)
    values = [entry_values(template, m, TRACKER) for m in messages]
    assert values[0]["c0"] != values[1]["c0"] and values[0]["o"] != values[1]["o"]
    assert TRACKER.read(values[1]["c0"]).message_id == 6
    assert TRACKER.read(values[1]["o"]).message_id == 6


def test_links_to_one_url_share_one_slot_and_render_alike():
    html = ("<a href='https://x.example/'>logo</a><a href='https://y.example/'>y</a>"
            "<a href=\"https://x.example/\">button</a>")
    messages = [message(i, html) for i in (1, 2)]
    template = bulk_template(messages[0], TRACKER)
    assert template.urls == ("https://x.example/", "https://y.example/")
    assert template.html.count("{{c0}}") == 2 and template.html.count("{{c1}}") == 1
    assert set(entry_values(template, messages[0], TRACKER)) == {"lb", "c0", "c1", "o"}
    assert ses_renders(messages) == mailpipe_renders(messages)


def test_a_contents_template_is_made_once_per_composer():
    composer = Composer()
    first, second = [message(i, "<a href='https://x.example/'>x</a>") for i in (1, 2)]
    made = [plan_bulk([first, second], TRACKER, composer)[0] for _ in range(2)]
    assert composer.per_content((first.content_key, "bulk", True), lambda: None) is not None
    assert made[0].html == made[1].html and made[0].entries[0].values["c0"]
    refused = message(3, "<p>\\{{escaped}}</p>")
    refused = ClaimedMessage(**{**refused.__dict__, "content_id": 9})
    assert plan_bulk([refused, refused], TRACKER, composer)[0] is None
    kept = composer.per_content((refused.content_key, "bulk", True), lambda: "made again")
    assert kept is None  # its refusal is kept


def test_a_composer_keeps_no_more_than_its_characters_of_contents():
    composer = Composer(max_chars=250)
    big = [ClaimedMessage(**{**message(i, "<p>" + "x" * 100 + "</p>").__dict__, "content_id": i})
           for i in (1, 2, 3)]
    for m in big:  # 107 characters each: room for two
        composer.compose(m, TRACKER)
    made = []
    composer.shared(big[0], True)  # the oldest was dropped: made again
    composer.per_content((big[0].content_key, True), lambda: made.append(1))
    composer.per_content((big[2].content_key, True), lambda: made.append(3))  # still held
    assert made == []
    composer.per_content((big[1].content_key, True), lambda: made.append(2))
    assert made == [2]  # dropped in its turn when the first came back
