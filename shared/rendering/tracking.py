"""Open and click tracking and one-click unsubscribe: signed tokens, rewritten HTML.

A token names what a link does and for which message, and carries an HMAC
of that made with ``MAILPIPE_SECRET_KEY``::

    base64url("o:<message id>")                   open pixel
    base64url("c:<message id>:<url>")             click, redirecting to <url>
    base64url("u:<message id>")                   unsubscribe
    token = <data> "." base64url(HMAC-SHA256(key, "mailpipe-tracking-v1" NUL data)[:16])

The API needs no lookup to check one, and nobody without the key can make
one: a click token redirects only to a URL mailpipe itself put in that
message, and a forged or altered token is simply not ours (404).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html as htmllib
import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from shared.settings import Settings

if TYPE_CHECKING:
    from shared.db.messages import ClaimedMessage

DOMAIN = b"mailpipe-tracking-v1\x00"
MAC_BYTES = 16
#: Longer URLs are left untracked: their token would outgrow what the API reads.
MAX_TRACKED_URL = 2000
#: A click this soon after the message arrived is a link scanner, not a person.
SCANNER_CLICK_SECONDS = 10.0

#: 1x1 transparent GIF.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

_HREF = re.compile(
    r"""(<a\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_SCANNER_AGENTS = re.compile(
    r"bot\b|crawl|spider|slurp|scanner|python|curl|wget|go-http-client|java/|okhttp|libwww"
    r"|httpclient|headless|phantomjs|barracuda|mimecast|proofpoint|safelinks|ironport"
    r"|forcepoint|fireeye|trendmicro|symantec|microsoft office protection",
    re.IGNORECASE,
)
#: Apple Mail Privacy Protection fetches every image on delivery from Apple's
#: network with a bare "Mozilla/5.0" user agent.
_APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
_APPLE_PROXY_AGENT = "Mozilla/5.0"


class Kind(StrEnum):
    OPEN = "o"
    CLICK = "c"
    UNSUBSCRIBE = "u"


@dataclass(frozen=True)
class Claim:
    """What a valid token says."""

    kind: Kind
    message_id: int
    url: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tracker:
    """Makes and reads tokens, and instruments a message's HTML."""

    def __init__(self, secret_key: str, public_url: str) -> None:
        self._key = hashlib.sha256(b"mailpipe tracking key\x00" + secret_key.encode()).digest()
        self.base = public_url.rstrip("/")

    def _mac(self, data: bytes) -> bytes:
        return hmac.digest(self._key, DOMAIN + data, "sha256")[:MAC_BYTES]

    def token(self, kind: Kind, message_id: int, url: str | None = None) -> str:
        data = f"{kind.value}:{message_id}" + (f":{url}" if kind is Kind.CLICK else "")
        raw = data.encode()
        return f"{_b64(raw)}.{_b64(self._mac(raw))}"

    def read(self, token: str) -> Claim | None:
        """The claim of a token we made, or None (forged, altered, truncated, junk)."""
        data_part, _, mac_part = token.partition(".")
        try:
            raw, mac = _unb64(data_part), _unb64(mac_part)
        except (binascii.Error, ValueError):
            return None
        # One spelling per token: base64's last character has unused bits, and the
        # decoder skips characters outside its alphabet, so only the canonical
        # encoding of what was decoded is accepted.
        if _b64(raw) != data_part or _b64(mac) != mac_part:
            return None
        if len(mac) != MAC_BYTES or not hmac.compare_digest(mac, self._mac(raw)):
            return None
        kind, _, rest = raw.decode("utf-8", "replace").partition(":")
        message_part, _, url = rest.partition(":")
        if not message_part.isascii() or not message_part.isdigit():
            return None
        return Claim(Kind(kind), int(message_part), url if kind == Kind.CLICK else None)

    def open_url(self, message_id: int) -> str:
        return f"{self.base}/v1/events/open?t={self.token(Kind.OPEN, message_id)}"

    def click_url(self, message_id: int, url: str) -> str:
        # A token is URL-safe as it is: base64url, a dot, base64url.
        return f"{self.base}/v1/events/click?t={self.token(Kind.CLICK, message_id, url)}"

    def unsubscribe_url(self, message_id: int) -> str:
        return f"{self.base}/v1/unsubscribe?t={self.token(Kind.UNSUBSCRIBE, message_id)}"

    def instrument(self, html: str, message_id: int) -> str:
        """``html`` with its http(s) links going through the click URL and an open pixel.

        mailto:, tel:, anchors, very long URLs and links marked ``data-notrack``
        are left alone.
        """
        return prepare_links(html).fill(self, message_id)

    def click_prefix(self) -> str:
        """A click URL up to its token."""
        return f"{self.base}/v1/events/click?t="

    def open_prefix(self) -> str:
        """An open-pixel URL up to its token."""
        return f"{self.base}/v1/events/open?t="


@dataclass(frozen=True)
class TrackedHtml:
    """A content's HTML with its tracked links found once, for any number of recipients.

    ``parts`` are the HTML around the tracked links' URLs (one more than
    ``urls``); the open pixel goes into part ``pixel_part`` at ``pixel_at``
    (before the last ``</body>``, else at the end). A recipient costs a
    token per link and a join, not a parse.
    """

    parts: tuple[str, ...]
    urls: tuple[str, ...]
    pixel_part: int
    pixel_at: int

    def join(self, hrefs: list[str], pixel_src: str) -> str:
        """The HTML with ``hrefs`` (HTML-escaped already) as the links' URLs and the pixel."""
        out: list[str] = []
        for index, part in enumerate(self.parts):
            if index == self.pixel_part:
                part = part[:self.pixel_at] + pixel_tag(pixel_src) + part[self.pixel_at:]
            out.append(part)
            if index < len(hrefs):
                out.append(hrefs[index])
        return "".join(out)

    def fill(self, tracker: Tracker, message_id: int) -> str:
        """The HTML for one message: its click URLs (one token per distinct URL) and open pixel."""
        hrefs = {url: htmllib.escape(tracker.click_url(message_id, url))
                 for url in dict.fromkeys(self.urls)}
        return self.join([hrefs[url] for url in self.urls],
                         htmllib.escape(tracker.open_url(message_id)))


def pixel_tag(src: str) -> str:
    """The open pixel, ``src`` already HTML-escaped."""
    return f'<img src="{src}" width="1" height="1" alt="" style="display:none;border:0">'


def prepare_links(html: str) -> TrackedHtml:
    """Find ``html``'s tracked links (see Tracker.instrument) and where the pixel goes."""
    parts: list[str] = []
    urls: list[str] = []
    starts: list[int] = []  # where each part starts in ``html``
    position, prefix = 0, ""
    for match in _HREF.finditer(html):
        quoted = match.group(2) if match.group(2) is not None else match.group(3)
        url = htmllib.unescape(quoted).strip()
        if ("data-notrack" in match.group(1).lower() or len(url) > MAX_TRACKED_URL
                or not re.match(r"https?://", url, re.IGNORECASE)):
            continue
        starts.append(position - len(prefix))
        parts.append(prefix + html[position:match.end(1)] + '"')
        urls.append(url)
        position, prefix = match.end(), '"'
    starts.append(position - len(prefix))
    parts.append(prefix + html[position:])
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return TrackedHtml(tuple(parts), tuple(urls), len(parts) - 1, len(parts[-1]))
    body_end = ends[-1].start()
    index = max(i for i, start in enumerate(starts) if start <= body_end)
    # (min: a "</body>" inside a tracked URL puts the pixel at the end of the part before it)
    return TrackedHtml(tuple(parts), tuple(urls), index,
                       min(body_end - starts[index], len(parts[index])))


def tracker_for(settings: Settings) -> Tracker | None:
    """The tracker, or None when MAILPIPE_SECRET_KEY is unset (no tracking, no unsubscribe)."""
    if not settings.secret_key:
        return None
    return Tracker(settings.secret_key, settings.public_url)


def unsubscribe_headers(
    message: ClaimedMessage, tracker: Tracker | None
) -> list[tuple[str, str]]:
    """RFC 8058 one-click unsubscribe headers for bulk mail ([] otherwise)."""
    if tracker is None or not message.bulk:
        return []
    return [
        ("List-Unsubscribe", f"<{tracker.unsubscribe_url(message.id)}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def machine_reason(
    event_type: str, *, user_agent: str | None, ip: str | None, method: str | None,
    seconds_since_arrival: float | None,
) -> str | None:
    """Why a tracking hit looks automated (prefetcher, link scanner), or None for a person."""
    agent = (user_agent or "").strip()
    if method == "HEAD":
        return "head_request"
    if not agent:
        return "no_user_agent"
    if _SCANNER_AGENTS.search(agent):
        return "scanner_user_agent"
    if event_type == "opened" and (agent == _APPLE_PROXY_AGENT or _in_apple_network(ip)):
        return "apple_privacy_protection"
    if (event_type == "clicked" and seconds_since_arrival is not None
            and seconds_since_arrival < SCANNER_CLICK_SECONDS):
        return "click_seconds_after_delivery"
    return None


def _in_apple_network(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.ip_address(ip) in _APPLE_NETWORK
    except ValueError:
        return False
