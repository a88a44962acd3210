"""The reputation guard in the console: the dashboard names the keys and topics it paused
and those past a warning level (every role reads it; English, Korean, a phone), and a
key's page shows its pause with a Resume button for admins, audited, after which the
held messages are due again."""

from __future__ import annotations

from sqlalchemy import text

from shared.db.keys import create_key
from tests.console.conftest import audited, shot, sign_in
from tests.recorder.test_guard import feedback, new_messages, sent


def _bad_key(console, name: str, bounced: int) -> int:
    """A key with 100 sends and ``bounced`` hard bounces among them, through the recorder."""
    with console.engine.begin() as conn:
        key = create_key(conn, name, [])[0].id
    feedback(console.engine, sent(console.engine, key, 100, topic=f"{name}-t")[:bounced])
    return key


def test_the_dashboard_names_paused_and_warned_keys_and_an_admin_resumes_one(
        page, korean_page, console, audit_since):
    paused = _bad_key(console, "bouncy", 10)   # 10%: paused
    _bad_key(console, "edgy", 3)               # 3%: past the 2% warning only
    held = new_messages(console.engine, paused, 2, topic="bouncy-t")

    sign_in(page, console, "viewer", then="/ui/")
    pause = page.locator('#guard-pauses li[data-pause="key"]')
    assert pause.count() == 1
    assert "bouncy" in pause.inner_text() and "hard bounces 10" in pause.inner_text()
    warned = page.locator("#guard-warnings .chip")
    assert "edgy" in warned.first.inner_text()
    assert page.locator("#rate-bounced .mark.guard").count() == 1
    shot(page, "guard-dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "guard-dashboard-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the dashboard scrolls sideways on a phone ({width}px)"

    sign_in(korean_page, console, "admin", then="/ui/")
    assert "평판 보호로 일시 중지됨" in korean_page.locator("#guard-pauses").inner_text()
    korean_page.goto(f"{console.url}/ui/keys")
    assert korean_page.locator(f'#key-{paused} [data-paused="{paused}"]').count() == 1
    korean_page.click(f'#key-{paused} [data-paused="{paused}"]')
    korean_page.wait_for_url(f"{console.url}/ui/keys/{paused}#guard")
    section = korean_page.locator("#guard")
    assert "키 전체" in section.inner_text() and "재개" in section.inner_text()
    shot(korean_page, "guard-key-page-ko")

    korean_page.once("dialog", lambda dialog: dialog.accept())
    korean_page.click('#guard button[data-resume="key"]')
    korean_page.wait_for_url(f"{console.url}/ui/keys/{paused}?resumed=1#guard")
    assert korean_page.locator("#guard-none").count() == 1
    [entry] = audited(console, "key.resume", f"key {paused}", audit_since)
    assert entry.actor == console.accounts["admin"][0] and entry.before["scope"] == "key"
    with console.engine.connect() as conn:
        due = conn.execute(text("SELECT bool_and(due_at <= now()) FROM messages "
                                "WHERE id = ANY(:ids)"), {"ids": held}).scalar_one()
    assert due, "the resumed key's held messages are due again"


def test_an_admin_sets_a_keys_own_levels_on_its_page(page, console, audit_since):
    with console.engine.begin() as conn:
        key = create_key(conn, "levels", [])[0].id
    sign_in(page, console, "admin", then=f"/ui/keys/{key}")
    form = page.locator("#guard-levels")
    assert form.locator("input[name=bounce_pause]").get_attribute("placeholder") == "0.04"
    form.locator("input[name=bounce_warn]").fill("0.05")
    page.click("#save-levels")
    assert "must be below the pause level" in page.locator("#error-bounce_warn").inner_text()
    assert form.locator("input[name=bounce_warn]").input_value() == "0.05"  # kept as typed
    form.locator("input[name=bounce_warn]").fill("0.01")
    form.locator("input[name=complaint_pause]").fill("0,0006")
    page.click("#save-levels")
    page.wait_for_url(f"{console.url}/ui/keys/{key}?levels=1#guard")
    assert form.locator("input[name=complaint_pause]").input_value() == "0.0006"
    [entry] = audited(console, "key.guard", f"key {key}", audit_since)
    assert entry.after["bounce_warn"] == 0.01 and entry.after["complaint_pause"] == 0.0006
    shot(page, "guard-levels")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "guard-levels-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the key's page scrolls sideways on a phone ({width}px)"
