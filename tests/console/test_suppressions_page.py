"""The suppression list in the console: an address added there stops a send (the message
ends ``suppressed``); pasted lists and CSV files (CP949 from Korean Excel) by the API's
rules; search, remove, export; viewers read and cannot change it; every change audited
with who made it."""

from __future__ import annotations

import csv
import io

from shared.db.suppressions import add_suppressions, search_suppressions
from tests.console.conftest import audited, shot, sign_in


def _listed(console) -> list[str]:
    with console.engine.connect() as conn:
        return [e.address for e in search_suppressions(conn, console.key.id, "",
                                                       limit=1000).entries]


def test_an_address_suppressed_in_the_console_is_not_sent_to(page, console, audit_since):
    sign_in(page, console, "admin")
    page.click("header nav >> text=Suppressions")
    page.click("#add summary")
    page.fill("#addresses", "Gone.Away@Example.org\nHong Gildong <hong@example.org>, ")
    page.click("#add-addresses")
    page.wait_for_selector("#notice")
    assert page.locator("#notice").inner_text() == "2 addresses added."
    row = page.locator('tr[data-address="gone.away@example.org"]')
    assert row.locator("td").nth(1).inner_text() == "Added by hand"
    shot(page, "suppressions-added")

    answer = page.request.post(f"{console.url}/v1/messages",
                               headers={"x-api-key": console.api_key}, data={
        "messages": [{"topicId": "suppressed-in-console", "subject": "Hi",
                      "content": "<p>hi</p>",
                      "emails": ["GONE.AWAY@example.org", "still.here@example.org"]}]})
    assert answer.status == 200
    ids = _message_ids(answer.json())
    states = {m["email"].lower(): m["status"] for m in answer.json()["messages"]}
    assert states["gone.away@example.org"] == "suppressed"  # ended at intake, never queued
    assert states["still.here@example.org"] != "suppressed"
    read = page.request.get(f"{console.url}/v1/messages/{ids['gone.away@example.org']}",
                            headers={"x-api-key": console.api_key}).json()
    assert read["status"] == "suppressed"

    add, = [e for e in audited(console, "suppression.add", "2 addresses", audit_since)
            if "gone.away@example.org" in e.after["addresses"]]
    assert add.actor == console.accounts["admin"][0] and add.actor_kind == "console"
    assert add.after["addresses"] == ["gone.away@example.org", "hong@example.org"]
    page.goto(f"{console.url}/ui/audit?action=suppression.")
    row = page.locator(f'#audit tr[data-id="{add.id}"]')
    assert row.locator(".actor").inner_text() == console.accounts["admin"][0]
    assert row.get_attribute("data-action") == "suppression.add"


def _message_ids(answer: dict) -> dict[str, int]:
    """{recipient, lower-cased: message id} from POST /v1/messages' answer."""
    return {m["email"].lower(): m["id"] for m in answer["messages"]}


def test_a_korean_excel_csv_is_imported_searched_removed_and_exported(korean_page, console,
                                                                     tmp_path, audit_since):
    page = korean_page
    csv_file = tmp_path / "수신거부.csv"
    csv_file.write_bytes("이름,이메일\n홍길동,kim@naver.com\n이영희,lee@naver.com\n"
                         "박민수,park@daum.net\n".encode("cp949"))
    sign_in(page, console, "admin")
    page.goto(f"{console.url}/ui/suppressions")
    page.click("#add summary")
    page.set_input_files("#import-file", str(csv_file))
    page.click("#import")
    page.wait_for_selector("#notice")
    assert page.locator("#notice").inner_text() == "주소 3개를 추가했습니다."
    assert {"kim@naver.com", "lee@naver.com", "park@daum.net"} <= set(_listed(console))

    page.fill("#search", "@naver.com")
    page.click("#search-form button[type=submit]")
    page.wait_for_url("**/ui/suppressions?q=%40naver.com")
    found = [r.get_attribute("data-address") for r in page.locator("#suppressions tbody tr").all()]
    assert found == ["kim@naver.com", "lee@naver.com"]
    shot(page, "suppressions-search-ko")

    with page.expect_download() as download:
        page.select_option("#export-charset", "cp949")
        page.click("#export")
    rows = list(csv.reader(io.StringIO(open(download.value.path(), "rb").read()
                                       .decode("cp949"))))
    assert rows[0] == ["email", "reason", "message_id", "created_at"]
    assert [r[0] for r in rows[1:]] == ["kim@naver.com", "lee@naver.com"]

    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button[data-remove="kim@naver.com"]')
    page.wait_for_selector("#notice")
    assert "kim@naver.com" in page.locator("#notice").inner_text()
    assert "kim@naver.com" not in _listed(console)
    remove, = audited(console, "suppression.remove", "kim@naver.com", audit_since)
    assert remove.actor == console.accounts["admin"][0]
    assert remove.before["reason"] == "manual"


def test_bad_lines_are_named_and_nothing_is_added(korean_page, console):
    page = korean_page
    sign_in(page, console, "admin")
    page.goto(f"{console.url}/ui/suppressions")
    page.click("#add summary")
    before = _listed(console)
    page.fill("#addresses", "ok@example.com\n잘못된주소\nfine@example.com")
    page.click("#add-addresses")
    error = page.locator("#add-error").inner_text()
    assert "주소 1개를 읽을 수 없어 아무것도 추가하지 않았습니다." in error
    assert "2번째 줄: '잘못된주소'은(는) 올바른 이메일 주소가 아닙니다" in error
    assert _listed(console) == before
    assert page.input_value("#addresses").startswith("ok@example.com")


def test_a_viewer_reads_the_list_and_cannot_change_it(page, console):
    with console.engine.begin() as conn:
        add_suppressions(conn, console.key.id, ["bounced@example.com"], "bounce",
                         message_id=None)
    sign_in(page, console, "viewer")
    page.goto(f"{console.url}/ui/suppressions")
    assert page.locator('tr[data-address="bounced@example.com"]').count() == 1
    assert page.locator("#add, button[data-remove]").count() == 0
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    added = page.request.post(f"{console.url}/ui/suppressions",
                              form={"csrf": csrf, "addresses": "viewer@example.com"})
    removed = page.request.post(f"{console.url}/ui/suppressions/remove",
                                form={"csrf": csrf, "address": "bounced@example.com"})
    imported = page.request.post(f"{console.url}/ui/suppressions/import",
                                 headers={"X-CSRF-Token": csrf, "Content-Type": "text/csv"},
                                 data=b"email\nviewer@example.com\n")
    assert (added.status, removed.status, imported.status) == (403, 403, 403)
    listed = _listed(console)
    assert "viewer@example.com" not in listed and "bounced@example.com" in listed
    exported = page.request.get(f"{console.url}/ui/suppressions/export")
    assert exported.status == 200 and exported.body().startswith(b"\xef\xbb\xbfemail,")


def test_a_suppression_links_to_the_message_that_caused_it(page, console):
    answer = page.request.post(f"{console.url}/v1/messages",
                               headers={"x-api-key": console.api_key}, data={
        "messages": [{"topicId": "bounced-once", "subject": "Hi", "content": "<p>hi</p>",
                      "emails": ["bounced.hard@example.com"]}]})
    message_id = _message_ids(answer.json())["bounced.hard@example.com"]
    with console.engine.begin() as conn:
        add_suppressions(conn, console.key.id, ["bounced.hard@example.com"], "bounce",
                         message_id=message_id)
    sign_in(page, console, "viewer")
    page.goto(f"{console.url}/ui/suppressions?q=bounced.hard")
    row = page.locator('tr[data-address="bounced.hard@example.com"]')
    assert row.locator("td").nth(1).inner_text() == "Hard bounce"
    link = row.locator(f'a[href="/ui/messages/{message_id}"]')
    assert link.inner_text() == str(message_id)
    # The message's page (not opened here: its sandboxed body blocks the open pixel,
    # which the browser reports as a console error).
    assert page.request.get(f"{console.url}/ui/messages/{message_id}").status == 200
