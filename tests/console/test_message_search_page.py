"""The results page finds messages by domain, by the start of an address and by address."""

from __future__ import annotations

import pytest

from shared.db.message_search import PAGE_SIZE
from tests.console.conftest import shot, sign_in
from tests.support.stored_messages import store_messages


@pytest.fixture(scope="module")
def stored(console) -> None:
    """Messages of the console's key, oldest first, and more at one domain than a page shows."""
    store_messages(console.engine, console.key.id, [
        "hong.gildong@example.com", "lee@mail.example.com", "kim@EXAMPLE.com",
        "hong2@other.org", "park@myexample.com"], topic="search-news")
    store_messages(console.engine, console.key.id,
                   [f"n{i}@many.example" for i in range(PAGE_SIZE + 1)], topic="search-bulk")


def search(page, console, typed: str) -> tuple[str, list[str]]:
    """Search from the results page's form: the heading and the addresses listed."""
    page.goto(f"{console.url}/ui/results")
    page.fill("#search", typed)
    page.click(".searchbar button[type=submit]")
    page.wait_for_selector("#found")
    return (page.locator("#found-count").inner_text(),
            page.locator("#found tbody td:nth-child(2)").all_inner_texts())


def test_a_domain_and_the_start_of_an_address_find_their_messages(page, console, stored):
    sign_in(page, console, "viewer")

    by_domain = ("2 messages found", ["kim@EXAMPLE.com", "hong.gildong@example.com"])
    assert search(page, console, "example.com") == by_domain
    shot(page, "results-search-domain")
    assert search(page, console, "@Example.com") == by_domain
    assert search(page, console, "hong") == (
        "2 messages found", ["hong2@other.org", "hong.gildong@example.com"])
    assert search(page, console, "HONG2@other.org") == ("1 message found", ["hong2@other.org"])
    assert search(page, console, "%") == ("0 messages found", [])


def test_a_search_matching_more_than_a_page_says_more_match(page, browser, console, stored):
    sign_in(page, console, "viewer")
    heading, addresses = search(page, console, "many.example")
    assert heading == f"The newest {PAGE_SIZE} messages are shown; more match."
    assert len(addresses) == PAGE_SIZE and addresses[0] == f"n{PAGE_SIZE}@many.example"

    korean = browser.new_context(locale="ko-KR",
                                 extra_http_headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    try:
        page = korean.new_page()
        sign_in(page, console, "viewer")
        heading, _ = search(page, console, "many.example")
        assert heading == f"최근 메시지 {PAGE_SIZE}건만 표시합니다. 더 많은 메시지가 검색됩니다."
        shot(page, "results-search-more-ko", full_page=False)
    finally:
        korean.close()
