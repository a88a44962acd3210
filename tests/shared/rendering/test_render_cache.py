"""A content rendered once serves every recipient with the same bytes but their own headers."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from shared.db.messages import ClaimedMessage
from shared.rendering.mime import RenderCache, render


def message(message_id: int, to: str, **extra) -> ClaimedMessage:
    return ClaimedMessage(message_id, 1, "Shop <news@shop.example>", to, "세일 안내 — Sale",
                          "<p>Hello <b>there</b> 안녕하세요</p>", None, "help@shop.example",
                          content_id=7, **extra)


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


def test_cached_render_equals_a_fresh_render_but_for_per_recipient_headers():
    cache = RenderCache()
    now = datetime.now(UTC)
    cache.render_bytes(message(1, "first@example.com"), now=now, tracker=None)
    cached = parsed(cache.render_bytes(message(2, "second@example.com"), now=now, tracker=None))
    fresh = parsed(render(message(2, "second@example.com"), now=now).as_bytes())
    assert cached["To"] == "second@example.com"
    assert cached["X-Mailpipe-Id"] == "2"
    assert cached["Message-ID"] != fresh["Message-ID"]  # each send gets its own
    for name in ("Subject", "From", "Reply-To", "Date", "MIME-Version"):
        assert cached[name] == fresh[name]
    assert [p.get_content() for p in cached.iter_parts()] == [
        p.get_content() for p in fresh.iter_parts()]
    assert len(cached.get_all("To")) == 1 and len(cached.get_all("Message-ID")) == 1


def test_messages_with_their_own_values_are_rendered_whole():
    cache = RenderCache()
    now = datetime.now(UTC)
    cache.render_bytes(message(1, "a@example.com", variables={"x": "1"}), now=now, tracker=None)
    cache.render_bytes(message(2, "b@example.com", cc=("c@example.com",)), now=now, tracker=None)
    assert cache._entries == {}
