"""Every console page in Korean on a phone (390×844): nothing scrolls the page sideways.

With ``MAILPIPE_SHOTS=<folder>`` set, every page is also saved there as a screenshot
at desktop (1280×800) and phone size, for a person to look at:
``MAILPIPE_SHOTS=/tmp/mailpipe-shots .venv/bin/pytest tests/console/test_console_pages.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.console.conftest import sign_in
from tests.support.console_pages import DESKTOP, PHONE, korean_page, seed_console_pages


@pytest.fixture(scope="module")
def pages(console):
    return seed_console_pages(console)


def _settled(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def test_no_console_page_scrolls_sideways_on_a_phone_in_korean(browser, console, pages):
    shots = os.environ.get("MAILPIPE_SHOTS")
    sizes = {"phone": PHONE, **({"desktop": DESKTOP} if shots else {})}
    wide: dict[str, int] = {}

    def look(page, name: str, size: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        if size == "phone" and width > PHONE["width"]:
            wide[name] = width
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}-{size}.png", full_page=True)

    for size, viewport in sizes.items():
        with korean_page(browser, viewport) as page:
            _settled(page, f"{console.url}/ui/login")
            look(page, "login", size)
            sign_in(page, console, "editor")
            for name, path in pages.paths().items():
                _settled(page, console.url + path)
                look(page, name, size)
            _settled(page, f"{console.url}/ui/plans")
            page.click("#new-plan summary")
            look(page, "plan-form", size)
    assert not wide, f"pages wider than {PHONE['width']}px: {wide}"


def test_the_grid_is_usable_on_a_phone(browser, console, pages):
    with korean_page(browser, PHONE) as page:
        sign_in(page, console, "editor")
        page.goto(f"{console.url}/ui/grids/{pages.grid_id}")
        email = page.locator('#grid input[data-row="0"][data-col="0"]')
        email.scroll_into_view_if_needed()
        box = email.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
        assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]
        # The whole address shows: nothing is scrolled out of sight inside the cell.
        assert email.input_value() == "홍길동 <a1@example.com>"
        assert email.evaluate("i => i.scrollWidth <= i.clientWidth")
        email.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("홍길순 <soon@example.com>")
        assert email.input_value() == "홍길순 <soon@example.com>"
        assert email.evaluate("i => i.scrollWidth <= i.clientWidth")
        page.wait_for_function("() => document.getElementById('grid-status').textContent"
                               ".includes('모든 행이 올바릅니다')")
        # Wider than the screen, the grid scrolls inside its box, not the page...
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        wrap = page.locator(".grid-wrap")
        assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
        # ...and scrolled to its far side, the row numbers and the header stay in sight.
        wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
        row_number = page.locator("#grid tbody .rownum").first.bounding_box()
        assert row_number["x"] >= wrap.bounding_box()["x"]
        assert page.locator("#grid thead th").first.is_visible()
        # Every button of the grid can be reached without scrolling sideways.
        for button in page.locator(".grid-actions button, .grid-actions label.button").all():
            button_box = button.bounding_box()
            assert button_box["x"] + button_box["width"] <= PHONE["width"]
