"""The audit log in the console (admins only), read in Korean in Seoul: each action with who
did it (a person, the command line, an API key), from where, and what changed; filtered by
action, by who, and by a time range typed in the reader's zone; paged; exported as CSV in
UTF-8 with a BOM or CP949. People and the audit log also fit a phone, in both languages."""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from shared.db import people
from shared.db.audit import Actor, record
from shared.db.keys import KeySettings, change_key, create_key, revoke_key
from shared.db.suppressions import add_suppressions
from tests.console.conftest import shot, sign_in
from tests.support.console_pages import DESKTOP, PHONE, korean_page

SEOUL = ZoneInfo("Asia/Seoul")
ADMIN = Actor("console", "auditor@local.example", "192.0.2.10")


def _rows(page) -> list[tuple[str, str]]:
    """(action, target) of each entry shown, top to bottom."""
    return [(r.get_attribute("data-action"), r.locator(".target").inner_text())
            for r in page.locator("#audit tbody tr").all()]


def _db_now(console) -> datetime:
    with console.engine.connect() as conn:
        return conn.execute(select(func.now())).scalar_one()


def _seed(console) -> tuple[int, datetime]:
    """Key actions by a person, a suppression by an API key, an account by the command
    line; then, a second later, one more change. Returns the key's id and an instant
    between the two."""
    with console.engine.begin() as conn:
        key, _ = create_key(conn, "감사 상점", ["shop.example"], actor=ADMIN)
        add_suppressions(conn, key.id, ["kim@audit.example"], "manual",
                         actor=Actor.api_key(key.id, key.name, "198.51.100.7"))
        people.add_local(conn, "made-by-cli@local.example", "viewer", "$argon2id$x",
                         actor=Actor.cli())
    time.sleep(1.2)
    between = _db_now(console).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(1.2)
    with console.engine.begin() as conn:
        change_key(conn, key.id, KeySettings("감사 상점", ("shop.example",), 2.5, None),
                   actor=ADMIN)
        revoke_key(conn, key.id, actor=ADMIN)
    return key.id, between


def _show(page) -> None:
    with page.expect_navigation():
        page.click("#f-show")


def _local(moment: datetime) -> str:
    """An instant as a datetime-local input takes it in Seoul."""
    return moment.astimezone(SEOUL).strftime("%Y-%m-%dT%H:%M:%S")


def test_the_audit_log_shows_who_did_what_and_filters_and_exports(browser, console):
    key_id, between = _seed(console)
    target = f"key {key_id}"
    with korean_page(browser, DESKTOP) as page:
        sign_in(page, console, "admin")
        page.click("header nav >> text=감사 로그")
        page.wait_for_url(f"{console.url}/ui/audit")
        top = _rows(page)[:5]
        assert top == [("key.revoke", target), ("key.change", target),
                       ("person.create", "made-by-cli@local.example"),
                       ("suppression.add", "kim@audit.example"), ("key.create", target)]
        revoke = page.locator("#audit tbody tr").first
        assert revoke.locator(".action").inner_text() == "API 키 폐기"
        assert revoke.locator(".who-did").inner_text() == "콘솔 auditor@local.example"
        assert "192.0.2.10" in revoke.inner_text()
        assert revoke.locator("time").get_attribute("datetime")
        change = page.locator('#audit tr[data-action="key.change"]').first
        assert change.locator(".diff").inner_text() == "max_send_rate — → 2.5"
        made = page.locator('#audit tr[data-action="person.create"]').first
        assert made.locator(".action").inner_text() == "로컬 계정 생성"
        assert made.locator(".who-did .chip").inner_text() == "명령줄"
        assert "$argon2id$" not in made.inner_text()
        suppressed = page.locator('#audit tr[data-action="suppression.add"]').first
        assert suppressed.locator(".who-did").inner_text() == (
            f"API key {key_id} (감사 상점)")
        assert "198.51.100.7" in suppressed.inner_text()
        shot(page, "audit-ko")

        page.select_option("#f-action", "key.")
        _show(page)
        assert {action for action, _ in _rows(page)} <= {"key.create", "key.change",
                                                         "key.revoke"}
        assert page.locator("#f-action option:checked").inner_text() == "API 키 작업 전체"

        page.select_option("#f-action", "")
        page.fill("#f-actor", "auditor@")
        page.fill("#f-since-local", _local(between))
        _show(page)
        assert _rows(page) == [("key.revoke", target), ("key.change", target)]
        # The instant typed in Seoul's time reached the server as that instant.
        assert page.input_value("#f-since-local") == _local(between)
        page.fill("#f-since-local", "")
        page.fill("#f-until-local", _local(between))
        _show(page)
        assert [a for a, t in _rows(page) if t == target] == ["key.create"]

        with page.expect_download() as download:
            page.select_option("#export-charset", "cp949")
            page.click("#export")
        rows = list(csv.reader(io.StringIO(open(download.value.path(), "rb").read()
                                           .decode("cp949"))))
        assert rows[0] == ["id", "at", "actor_kind", "actor", "address", "action", "target",
                           "before", "after"]
        created = next(r for r in rows[1:] if r[5] == "key.create" and r[6] == target)
        assert created[2:5] == ["console", "auditor@local.example", "192.0.2.10"]
        assert '"name": "감사 상점"' in created[8]
        assert all(datetime.fromisoformat(r[1]) < between for r in rows[1:])
        with page.expect_download() as download:
            page.select_option("#export-charset", "utf-8-sig")
            page.click("#export")
        assert open(download.value.path(), "rb").read().startswith(b"\xef\xbb\xbfid,at,")


def test_the_log_is_paged_newest_first(page, console):
    with console.engine.begin() as conn:
        for n in range(105):
            record(conn, Actor("cli", "pager@host"), "messages.requeue", f"page item {n}")
    sign_in(page, console, "admin", then="/ui/audit")
    page.goto(f"{console.url}/ui/audit?actor=pager%40host")
    targets = [t for _, t in _rows(page)]
    assert targets[0] == "page item 104" and len(targets) == 100
    assert page.locator("#newest").count() == 0
    page.click("#older")
    assert [t for _, t in _rows(page)] == [f"page item {n}" for n in range(4, -1, -1)]
    assert page.locator("#older").count() == 0
    assert page.locator(".action").first.inner_text() == "Messages requeued"
    page.click("#newest")
    assert len(_rows(page)) == 100
    page.goto(f"{console.url}/ui/audit?actor=nobody-did-this")
    assert page.locator("#none-found").inner_text() == "No entry matches these filters."


def _look(page, name: str, size: str, lang: str, wide: dict) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    if size == "phone" and width > PHONE["width"]:
        wide[f"{name}-{lang}"] = width
    shots = os.environ.get("MAILPIPE_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/{name}-{lang}-{size}.png", full_page=True)


def test_people_and_the_audit_log_fit_a_phone_in_korean_and_english(browser, console):
    """With ``MAILPIPE_SHOTS=<folder>``, each page is saved there at phone and desktop size."""
    with console.engine.begin() as conn:
        people.invite(conn, "invited@elsewhere.example", "editor", actor=ADMIN)
    wide: dict[str, int] = {}
    for lang in ("ko", "en"):
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            with korean_page(browser, viewport) as page:
                page.goto(f"{console.url}/ui/lang?to={lang}&next=/ui/login")
                sign_in(page, console, "admin", then="/ui/people")
                _look(page, "people", size, lang, wide)
                page.click("#local summary")
                page.fill("#local-form input[name=email]", f"shot-{lang}-{size}@local.example")
                page.click("#create-local")
                _look(page, "person-created", size, lang, wide)
                page.goto(f"{console.url}/ui/audit")
                page.wait_for_load_state("networkidle")
                _look(page, "audit", size, lang, wide)
    assert not wide, f"pages wider than {PHONE['width']}px: {wide}"
