"""The console's recipient grid as a browser test drives it (Playwright's page)."""

from __future__ import annotations


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
