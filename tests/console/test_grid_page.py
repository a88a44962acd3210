"""The recipient grid: columns from the template, rows pasted from a spreadsheet, invalid
cells flagged with the intake's own reason, saved for later."""

from __future__ import annotations

from shared.db.templates import create_template
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in
from tests.support.grid import open_grid, paste, saved_grid

PASTED = "kim@example.com\t김민수\nnot-an-email\t이영희\nlee@example.com\t박지성\n"


def test_three_pasted_rows_with_one_invalid_cell_are_flagged_then_saved(page, console):
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, "grid test",
                                   TemplateSource("{{이름}}님", "<p>{{이름}}</p>", None))
    sign_in(page, console, "editor")
    open_grid(page, console.url, template.id)
    assert page.locator("#grid thead th").all_inner_texts()[1:3] == ["email", "이름"]
    paste(page, 'input[data-row="0"][data-col="0"]', PASTED)
    page.wait_for_selector("input.bad")
    bad = page.locator("input.bad")
    assert bad.count() == 1
    assert bad.get_attribute("data-row") == "1" and bad.get_attribute("data-col") == "0"
    assert "row 2: 'not-an-email' is not a valid email address" in bad.get_attribute("title")
    assert page.locator('input[data-row="2"][data-col="1"]').input_value() == "박지성"
    shot(page, "grid-invalid-cell")

    bad.fill("lee2@example.com")
    page.wait_for_function("() => document.querySelectorAll('input.bad').length === 0")
    page.fill("#grid-name", "6월 고객")
    page.click("#save-grid")
    page.wait_for_function("() => document.getElementById('grid-status').textContent === 'Saved.'")
    grid = saved_grid(console.engine, console.key.id, "6월 고객")
    assert grid.columns == ["email", "이름"]
    assert grid.rows == [["kim@example.com", "김민수"], ["lee2@example.com", "이영희"],
                         ["lee@example.com", "박지성"]]
