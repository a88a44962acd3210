"""The console's recipient grid as a browser test drives it (Playwright's page), and a
saved grid (a recipient list) read back as the grid shows it."""

from __future__ import annotations

from services.console.pages.grids import Grid, grid_of
from shared.db.recipient_lists import recent_lists


def saved_grid(engine, key_id: int, name: str) -> Grid:
    """The key's list named ``name`` (saved last, if several are), as grid cells."""
    with engine.connect() as conn:
        stored = next(s for s in recent_lists(conn, key_id) if s.name == name)
        return grid_of(conn, key_id, stored.id)


def open_grid(page, url: str, template_id: int) -> None:
    """The grids page (signed in already) with ``template_id``'s columns."""
    page.goto(f"{url}/ui/grids")
    page.select_option("#grid-template", str(template_id))


def paste(page, selector: str, text: str) -> None:
    """What the browser does when rows copied from Excel or Sheets are pasted into a cell."""
    page.eval_on_selector(selector, """(input, text) => {
        const data = new DataTransfer();
        data.setData('text/plain', text);
        input.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true,
                                                         cancelable: true}));
    }""", text)


def grid_values(page) -> list[list[str]]:
    """Every row's cells as the grid shows them."""
    return page.eval_on_selector_all("#grid tbody tr", """rows => rows.map(
        r => Array.from(r.querySelectorAll('input')).map(i => i.value))""")
