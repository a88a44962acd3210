"""API keys in the console (admins only): a key made in the browser, shown once, restricted
to a domain the API holds it to, then revoked and refused; its page shows its traffic and
last use; a viewer cannot make one (the server refuses, not only the menu); every change
is in the audit log with who made it."""

from __future__ import annotations

from shared.db.keys import get_key, list_keys
from shared.transports.file import FileTransport
from tests.console.conftest import audited, shot, sign_in
from tests.support.pump import Pump


def _send(page, url: str, plain: str, sender: str, to: str = "someone@example.net"):
    return page.request.post(f"{url}/v1/messages", headers={"x-api-key": plain}, data={
        "messages": [{"topicId": "keys-page", "emails": [to], "subject": "Hi",
                      "content": "<p>hi</p>", "from": sender}]})


def test_an_admin_makes_a_restricted_key_that_the_api_holds_to_it_then_revokes_it(
        page, console, audit_since):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, console, "admin")
    page.click("header nav >> text=API keys")
    page.wait_for_url(f"{console.url}/ui/keys")
    page.click("#new-key summary")
    page.fill("#key-form input[name=name]", "shop front")
    page.fill("#key-form textarea[name=domains]", "Shop.Example")
    page.fill("#key-form input[name=intake_rate]", "5")
    page.click("#create-key")
    plain = page.input_value("#plain-key")
    assert plain.startswith("mp_")
    assert "shown only this once" in page.locator("#created").inner_text()
    page.click("#copy-key")
    page.wait_for_selector("#copy-key.done")
    assert page.evaluate("navigator.clipboard.readText()") == plain
    shot(page, "key-created")

    with console.engine.connect() as conn:
        key = next(k for k in list_keys(conn) if k.name == "shop front")
    assert (key.allowed_domains, key.intake_rate) == (("shop.example",), 5.0)
    # Shown once: the key's page and the list have only its prefix.
    page.click("#key-page")
    assert plain not in page.content() and key.key_prefix in page.content()
    assert page.locator("#last-used").inner_text() == "never"

    refused = _send(page, console.url, plain, "news@other.example")
    assert (refused.status, refused.json()["code"]) == (403, "sender_not_allowed")
    accepted = _send(page, console.url, plain, "news@shop.example")
    assert accepted.status == 200
    # The sender and the recorder, as in production: the send is counted for the key.
    Pump(console.settings, console.engine, console.broker, console.redis,
         FileTransport(console.settings.file_dir)).run()

    page.reload()
    assert page.locator("#last-used time").count() == 1  # written by that request
    sent = page.locator('#traffic-totals .chip[data-measure="sent"]')
    assert sent.get_attribute("data-count") == "1"
    assert page.locator("#traffic .chart-box svg").count() == 1
    shot(page, "key-page")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#revoke-key")
    page.wait_for_url(f"{console.url}/ui/keys/{key.id}?revoked=1")
    assert page.locator("#key-state").inner_text() == "revoked"
    after = _send(page, console.url, plain, "news@shop.example")
    assert (after.status, after.json()["code"]) == (401, "invalid_api_key")

    admin = console.accounts["admin"][0]
    create, = audited(console, "key.create", f"key {key.id}", audit_since)
    revoke, = audited(console, "key.revoke", f"key {key.id}", audit_since)
    assert (create.actor, create.actor_kind, create.address) == (admin, "console", "127.0.0.1")
    assert create.after["domains"] == ["shop.example"] and plain not in str(create.after)
    assert revoke.actor == admin and revoke.before["name"] == "shop front"
    # And so says the audit log page, with who did it.
    page.goto(f"{console.url}/ui/audit?action=key.")
    for entry in (create, revoke):
        row = page.locator(f'#audit tr[data-id="{entry.id}"]')
        assert row.locator(".actor").inner_text() == admin
        assert row.locator(".target").inner_text() == f"key {key.id}"


def test_a_keys_settings_are_changed_with_the_rules_said_beside_the_field(korean_page,
                                                                          console, audit_since):
    page = korean_page
    sign_in(page, console, "admin")
    page.goto(f"{console.url}/ui/keys/{console.key.id}")
    page.fill("#key-form textarea[name=domains]", "news.example\n잘못된도메인")
    page.click("#save-key")
    assert "'잘못된도메인'" in page.locator("#error-domains").inner_text()
    assert "도메인 이름이 아닙니다" in page.locator("#error-domains").inner_text()
    shot(page, "key-page-error-ko")
    page.fill("#key-form textarea[name=domains]", "")
    page.fill("#key-form input[name=max_send_rate]", "2.5")
    page.click("#save-key")
    page.wait_for_url(f"{console.url}/ui/keys/{console.key.id}?saved=1")
    with console.engine.connect() as conn:
        assert get_key(conn, console.key.id).max_send_rate == 2.5
    change = audited(console, "key.change", f"key {console.key.id}", audit_since)[0]
    assert change.after["max_send_rate"] == 2.5 and change.before["max_send_rate"] is None
    assert change.actor == console.accounts["admin"][0]
    page.fill("#key-form input[name=max_send_rate]", "")
    page.click("#save-key")
    page.wait_for_url(f"{console.url}/ui/keys/{console.key.id}?saved=1")


def test_a_viewer_cannot_see_or_make_keys(page, console):
    sign_in(page, console, "viewer")
    assert page.locator("header nav >> text=API keys").count() == 0
    listing = page.goto(f"{console.url}/ui/keys")
    assert listing.status == 403
    assert "does not allow you to see this page" in page.locator("main").inner_text()
    # The form posted anyway, with the viewer's own valid CSRF token: refused by the server.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    with console.engine.connect() as conn:
        before = len(list_keys(conn))
    made = page.request.post(f"{console.url}/ui/keys", form={
        "csrf": csrf, "name": "sneaky", "domains": "", "max_send_rate": "",
        "intake_rate": ""})
    assert made.status == 403
    revoked = page.request.post(f"{console.url}/ui/keys/{console.key.id}/revoke",
                                form={"csrf": csrf})
    assert revoked.status == 403
    with console.engine.connect() as conn:
        assert len(list_keys(conn)) == before
        assert get_key(conn, console.key.id).revoked_at is None
    assert page.goto(f"{console.url}/ui/identities").status == 403


def test_a_key_that_is_not_there_is_the_consoles_404(page, console):
    sign_in(page, console, "admin")
    answer = page.goto(f"{console.url}/ui/keys/987654")
    assert answer.status == 404
    assert "There is no API key 987654." in page.locator("main").inner_text()


def test_a_keys_own_ses_configuration_set_is_set_refused_when_misnamed_and_cleared(
        korean_page, page, console, audit_since):
    for browser_page, lang in ((korean_page, "ko"), (page, "en")):
        sign_in(browser_page, console, "admin")
        browser_page.goto(f"{console.url}/ui/keys/{console.key.id}")
        browser_page.fill("#key-form input[name=configuration_set]", "news events")
        browser_page.click("#save-key")
        error = browser_page.locator("#error-configuration_set").inner_text()
        assert ("구성 세트 이름" if lang == "ko" else "configuration set's name") in error
        shot(browser_page, f"key-page-configuration-set-error-{lang}")
    page.fill("#key-form input[name=configuration_set]", "news-events")
    page.click("#save-key")
    page.wait_for_url(f"{console.url}/ui/keys/{console.key.id}?saved=1")
    assert page.input_value("#key-form input[name=configuration_set]") == "news-events"
    assert page.inner_text('[data-fact="configuration-set"]') == "news-events"
    with console.engine.connect() as conn:
        assert get_key(conn, console.key.id).ses_configuration_set == "news-events"
    change = audited(console, "key.change", f"key {console.key.id}", audit_since)[0]
    assert change.after["configuration_set"] == "news-events"
    page.fill("#key-form input[name=configuration_set]", "")
    page.click("#save-key")
    page.wait_for_url(f"{console.url}/ui/keys/{console.key.id}?saved=1")
    with console.engine.connect() as conn:
        assert get_key(conn, console.key.id).ses_configuration_set is None
    assert page.inner_text('[data-fact="configuration-set"]').startswith("fleet's")
