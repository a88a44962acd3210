"""Every moment the console shows is in the browser's own zone, with the zone named: a
reader in Seoul sees 09:30 GMT+9 wherever the server stored 00:30 UTC."""

from __future__ import annotations

import pytest

from tests.console.conftest import sign_in
from tests.support.console_pages import PHONE, korean_page, seed_console_pages


@pytest.fixture(scope="module")
def pages(console):
    return seed_console_pages(console)


def _times(page) -> list[str]:
    # Some ICU versions put a narrow no-break space before AM/PM.
    return [t.replace("\u202f", " ") for t in page.locator("main time").all_inner_texts()]


def test_a_reader_in_seoul_sees_every_time_in_kst_labelled(browser, console, pages):
    with korean_page(browser, PHONE) as page:
        sign_in(page, console, "editor")
        page.goto(f"{console.url}/ui/messages/{pages.message_id}")
        timeline = _times(page)
        # Made at 00:30:00 UTC, sent 20 s later (the seeded message's id is 1).
        assert timeline[0] == "2026. 6. 1. 오전 9:30:00 GMT+9"
        assert timeline[1] == "2026. 6. 1. 오전 9:30:20 GMT+9"
        assert len(timeline) == 6 and all(t.endswith(" GMT+9") for t in timeline)

        page.goto(f"{console.url}/ui/templates")
        assert _times(page) == ["2026. 6. 1. 오전 9:32 GMT+9"]  # when v2 was written

        page.goto(f"{console.url}/ui/templates/{pages.template_id}")
        assert _times(page) == ["2026. 6. 1. 오전 9:32 GMT+9",  # v2, then v1
                                "2026. 6. 1. 오전 9:31 GMT+9"]

        page.goto(f"{console.url}/ui/plans")
        assert _times(page) == ["2031. 1. 1. 오전 9:00 GMT+9"]
        # A new plan's time is typed in the same zone, and the form says which.
        assert page.text_content("#new-plan [data-zone]") == "GMT+9"

        page.goto(f"{console.url}/ui/results?topic=june-news")
        assert page.inner_text(".chart-zone") == "GMT+9"
        # The chart's ticks are Seoul's clock too: the first send was at 09:30 there.
        assert page.locator(".chart-x time").first.inner_text() == "09:30"


def test_without_script_a_moment_is_still_labelled_utc(browser, console, pages):
    email, password = console.accounts["viewer"]
    context = browser.new_context(java_script_enabled=False, locale="ko-KR",
                                  timezone_id="Asia/Seoul")
    try:
        page = context.new_page()
        page.goto(f"{console.url}/ui/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit].primary")
        page.goto(f"{console.url}/ui/templates")
        assert _times(page) == ["2026-06-01 00:32 UTC"]
    finally:
        context.close()


def test_a_reader_in_new_york_sees_june_in_summer_time_whatever_the_date_today(browser,
                                                                               console, pages):
    context = browser.new_context(locale="en-US", timezone_id="America/New_York")
    try:
        page = context.new_page()
        sign_in(page, console, "viewer")
        page.goto(f"{console.url}/ui/messages/{pages.message_id}")
        assert _times(page)[0] == "May 31, 2026, 8:30:00 PM EDT"
        page.goto(f"{console.url}/ui/results?topic=june-news")
        assert page.inner_text(".chart-zone") == "EDT"
        assert page.locator(".chart-x time").first.inner_text() == "20:30"
    finally:
        context.close()
