"""The plain-text alternative of an HTML body, as a reader of the text part needs it.

Links keep their address (``text (URL)``), headings and paragraphs are lines
with a blank line between them, ``<br>`` breaks a line, list items are
``- item`` (``1. item`` in an ordered list, indented when nested), table
rows are lines with their cells side by side, ``<pre>`` keeps its spacing;
scripts, styles and the title are left out. Python's own ``html.parser``
reads the HTML (it never fails on bad markup), so there is nothing to lock
or to keep up to date; ``html2text`` would write Markdown (``**``, ``#``,
``[text](url)``), which is not what a mail client's text view should show.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCKS = frozenset({"p", "div", "section", "article", "header", "footer", "main", "aside",
                    "nav", "blockquote", "table", "form", "address", "figure", "figcaption",
                    "center", "dl", "dt", "dd", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
                    "pre", "ul", "ol"})
SKIPPED = frozenset({"script", "style", "title", "template", "noscript"})
_SPACE = re.compile(r"[ \t\n\r\f\v]+")  # HTML's white space (not a no-break space)
#: Link targets that mean nothing outside the page (an anchor, a script).
_NOT_AN_ADDRESS = re.compile(r"^\s*(#|javascript:|$)", re.IGNORECASE)


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []  # the inline text of the line being written
        self.prefix = ""  # what the next line written starts with (a list item's mark)
        self.lists: list[list] = []  # [tag, items so far] of each open list
        self.links: list[tuple[str | None, int]] = []  # (href, where its text starts)
        self.skip = 0
        self.pre = 0

    def flush(self, blank: bool = False) -> None:
        """End the line being written; ``blank``: the next text starts after a blank line."""
        text = "".join(self.line)
        text = text.rstrip() if self.pre else _SPACE.sub(" ", text).strip()
        if text:
            indent = "   " * max(len(self.lists) - 1, 0) if self.prefix else ""
            self.lines.extend((indent + self.prefix + text).split("\n"))
            self.prefix = ""
        self.line = []
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self.skip += 1
        elif tag in BLOCKS:
            self.flush(blank=not self.lists)  # within a list item: lines, not paragraphs
            if tag in ("ul", "ol"):
                self.lists.append([tag, 0])
            elif tag == "pre":
                self.pre += 1
        elif tag == "li":
            self.flush()
            if self.lists:
                self.lists[-1][1] += 1
            kind, number = self.lists[-1] if self.lists else ("ul", 1)
            # Quill (the console's editor) writes every list as <ol>, bullets as
            # <li data-list="bullet">.
            if dict(attrs).get("data-list") == "bullet":
                kind = "ul"
            self.prefix = f"{number}. " if kind == "ol" else "- "
        elif tag == "br":
            if self.line:
                self.flush()
            elif self.lines and self.lines[-1] != "":
                self.lines.append("")
        elif tag == "tr":
            self.flush()
        elif tag in ("td", "th") and "".join(self.line).strip():
            self.line.append("  ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href"), len(self.line)))
        elif tag == "img" and (alt := (dict(attrs).get("alt") or "").strip()):
            self.line.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skip = max(self.skip - 1, 0)
        elif tag in BLOCKS:
            if tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            self.flush(blank=not self.lists)
            if tag == "pre":
                self.pre = max(self.pre - 1, 0)
        elif tag == "li":
            self.flush()
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            self._link(href, start)

    def _link(self, href: str | None, start: int) -> None:
        if href is None or _NOT_AN_ADDRESS.match(href):
            return
        href = href.strip()
        text = _SPACE.sub(" ", "".join(self.line[start:])).strip()
        if text in (href, href.removeprefix("mailto:")):
            return  # the address is the text already
        self.line.append(f" ({href})" if text else href)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.line.append(data)


def html_to_text(html: str) -> str:
    """The text alternative of ``html`` (see the module's docstring)."""
    converter = _Converter()
    converter.feed(html)
    converter.close()
    converter.flush()
    return "\n".join(converter.lines).strip()


def text_part(html: str | None, text: str | None) -> str:
    """A message's plain-text part: its own when it has one, else drawn from its HTML."""
    if text:
        return text
    return html_to_text(html) if html else ""
