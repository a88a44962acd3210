"""One content for many recipients as an SES inline template (SendBulkEmail), exactly as mailpipe
would render each of them.

SES fills ``TemplateContent`` with a Handlebars-like language: ``{{x}}``
HTML-escaped, ``{{{x}}}`` raw, ``\\{{`` a literal, ``{{#if}}`` helpers,
``{{> x}}`` partials, dotted names as paths. mailpipe's own semantics
(shared.rendering.mustache) must not change when SES renders instead, so
the template handed to SES is made so that the two cannot differ:

- every mailpipe tag becomes a slot ``{{vN}}`` (SES-safe name), every
  tracked link ``{{cN}}``, the open pixel ``{{o}}``; every other ``{{`` in
  the content (a CSS or code sample, say) becomes ``{{lb}}`` whose value is
  ``{{`` (SES does not render a value again);
- a value goes to SES only when HTML-escaping leaves it unchanged and it
  has no line break, backslash or surrounding space (``neutral``), so
  escaping or not, ``{{x}}`` or ``{{{x}}}``, SES writes exactly the text
  mailpipe would; a recipient with another value goes by the per-message
  path instead;
- a content SES could read otherwise (a ``\\`` before a ``{{``, a tracked
  URL built from a variable, a NUL) goes entirely by the per-message path.

``plan_bulk`` applies this to messages sharing one content and sender.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass

from shared.db.messages import ClaimedMessage
from shared.intake.addresses import encoded_mailbox
from shared.rendering.compose import Composer, content_chars, html_to_text, to_header
from shared.rendering.mustache import _TAG
from shared.rendering.tracking import Tracker, prepare_links, unsubscribe_headers
from shared.transports.base import BulkEntry, BulkSend
from shared.transports.ses_content import bulk_headers_ok

#: SES's limit on entries per SendBulkEmail call.
MAX_ENTRIES = 50
LITERAL = "lb"
#: A value SES may render differently from mailpipe: HTML-escaped characters
#: (Handlebars escapes & < > " ' ` =), line breaks and backslashes; and a run of
#: white space, which the text part drawn from the HTML collapses to one space
#: (shared.rendering.plaintext) while SES would paste the value as it is.
_NOT_NEUTRAL = re.compile(r"[&<>\"'`=\\\r\n\x00\t\f\v]|  ")
#: The only tags a template handed to SES may contain.
_SLOT = re.compile(r"\{\{(v\d+|c\d+|o|lb)\}\}")
_MARK = "\x00"


def neutral(value: str) -> bool:
    """True when SES writes ``value`` exactly as mailpipe would, escaped or not."""
    return not _NOT_NEUTRAL.search(value) and value == value.strip()


@dataclass(frozen=True)
class BulkTemplate:
    """A content as SES template parts, and how to fill each recipient's slots."""

    subject: str
    html: str | None
    text: str
    #: mailpipe variable name -> slot
    variables: dict[str, str]
    #: the tracked links' distinct URLs, in slot order (c0, c1, ...)
    urls: tuple[str, ...]
    tracked: bool


def bulk_template(message: ClaimedMessage, tracker: Tracker | None) -> BulkTemplate | None:
    """The SES template of ``message``'s content, or None when SES could render it otherwise."""
    templated = message.variables is not None
    slots: dict[str, str] = {}
    parts = [message.subject, message.html or "", message.text or ""]
    if any(_MARK in p or "\\{{" in p for p in parts):
        return None
    tracked = tracker is not None and message.tracking and bool(message.html)
    html, urls = message.html or None, ()
    if tracked:
        links = prepare_links(message.html)
        if any("{{" in url for url in links.urls):
            return None  # a per-recipient URL: its token would need the filled URL
        urls = tuple(dict.fromkeys(links.urls))  # one slot (and token) per distinct URL
        html = links.join([f"{_MARK}c{urls.index(url)}{_MARK}" for url in links.urls],
                          f"{_MARK}o{_MARK}")
    if html is not None:
        html = _restore(_slotted(html, templated, slots), tracker)
    if message.text:
        text = _slotted(message.text, templated, slots)
    elif message.html:
        # Drawn from the HTML with the tags held aside, so that a "{{" the text
        # gains from a character reference (&#123;) stays a literal.
        marked = _TAG.sub(lambda m: f"{_MARK}{_slot(m, slots)}{_MARK}", message.html) \
            if templated else message.html
        text = _restore(_literal(html_to_text(marked)), None)
    else:
        text = ""
    template = BulkTemplate(_slotted(message.subject, templated, slots), html, text,
                            slots, urls, tracked)
    for part in (template.subject, template.html or "", template.text):
        if "{{{" in part or _MARK in part or _SLOT.sub("", part).count("{{"):
            return None
    return template


def _slot(match: re.Match, slots: dict[str, str]) -> str:
    name = match.group(1) or match.group(2)
    return slots.setdefault(name, f"v{len(slots)}")


def _literal(text: str) -> str:
    return text.replace("{{", "{{" + LITERAL + "}}")


def _slotted(source: str, templated: bool, slots: dict[str, str]) -> str:
    """``source`` with mailpipe's tags as slots and every other ``{{`` as a literal."""
    if not templated:
        return _literal(source)
    out, position = [], 0
    for match in _TAG.finditer(source):
        out.append(_literal(source[position:match.start()]))
        out.append("{{" + _slot(match, slots) + "}}")
        position = match.end()
    out.append(_literal(source[position:]))
    return "".join(out)


def _restore(text: str, tracker: Tracker | None) -> str:
    """Marked slots (``\\0name\\0``) as SES tags; tracked ones after their URL's prefix."""
    def tag(match: re.Match) -> str:
        name = match.group(1)
        if tracker is not None and name[0] == "c":
            return htmllib.escape(tracker.click_prefix()) + "{{" + name + "}}"
        if tracker is not None and name == "o":
            return htmllib.escape(tracker.open_prefix()) + "{{o}}"
        return "{{" + name + "}}"

    return re.sub(f"{_MARK}([a-z]+\\d*){_MARK}", tag, text)


def entry_values(template: BulkTemplate, message: ClaimedMessage,
                 tracker: Tracker | None) -> dict[str, str] | None:
    """One recipient's slot values, or None when one of them is not ``neutral``."""
    values = {LITERAL: "{{"}
    for name, slot in template.variables.items():
        values[slot] = (message.variables or {}).get(name, "")
    if template.tracked:
        for i, url in enumerate(template.urls):
            values[f"c{i}"] = _token(tracker.click_url(message.id, url), tracker.click_prefix())
        values["o"] = _token(tracker.open_url(message.id), tracker.open_prefix())
    if not all(v and neutral(v) for k, v in values.items() if k != LITERAL):
        return None
    return values


def _token(url: str, prefix: str) -> str:
    return url[len(prefix):] if url.startswith(prefix) else "\x00"  # not neutral: per message


def bulk_eligible(message: ClaimedMessage) -> bool:
    """One recipient, no relay, no fixed Message-ID, no files, not submitted over SMTP (its
    bytes go as they are): SendBulkEmail can carry it."""
    return not (message.extra_to or message.cc or message.bcc or message.relay
                or message.mime_message_id or message.attachments or message.raw is not None)


def plan_bulk(messages: list[ClaimedMessage], tracker: Tracker | None,
              composer: Composer | None = None,
              ) -> tuple[BulkSend | None, list[ClaimedMessage], list[ClaimedMessage]]:
    """(the bulk send, the messages it carries, the ones left for the per-message path).

    ``messages`` share one content and one sender, and are ``bulk_eligible``.
    The content's template is made once per ``composer`` (its per-content cache).
    """
    first = messages[0]
    template = (composer.per_content((first.content_key, "bulk", tracker is not None),
                                     lambda: bulk_template(first, tracker),
                                     chars=content_chars(first))
                if composer is not None and first.content_id is not None
                else bulk_template(first, tracker))
    if template is None:
        return None, [], list(messages)
    carried, entries, left = [], [], []
    for message in messages:
        values = entry_values(template, message, tracker)
        if values is None:
            left.append(message)
            continue
        carried.append(message)
        entries.append(BulkEntry(to_header(message), values, (
            ("X-Mailpipe-Id", str(message.id)), *unsubscribe_headers(message, tracker)),
            message.send_tags))
    if not entries:
        return None, [], left
    bulk = BulkSend(from_header=encoded_mailbox(first.from_addr), subject=template.subject,
                    html=template.html, text=template.text, entries=tuple(entries),
                    reply_to=first.reply_to, headers=first.headers,
                    configuration_set=first.configuration_set)
    if not bulk_headers_ok(bulk):
        # A header SES takes only in Raw MIME would fail the whole call: one by one
        # instead, where each message goes Raw.
        return None, [], list(messages)
    return bulk, carried, left
