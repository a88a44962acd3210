"""CSV files as a Korean office saves them, through the console: a grid import and a plan's
upload detect CP949, EUC-KR, UTF-8 with a BOM and UTF-16 (or take the charset chosen); a file
no charset reads is refused with its line, never shown as U+FFFD; exports read back in UTF-8
with a BOM and in CP949."""

from __future__ import annotations

import codecs

import pytest
from sqlalchemy import text

from services.scheduler.expand import expand_step
from shared.db.templates import create_template
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in
from tests.support.csv_files import office_files, undecodable
from tests.support.grid import grid_values, open_grid

TEXT = "email,이름\r\nhong@example.com,홍길동\r\nsam@example.com,삼번\r\n"
FILES = office_files(TEXT)
#: Line 4 holds 0xFF, a lead byte in no candidate charset.
BAD = undecodable(TEXT)


@pytest.fixture
def template_id(console):
    with console.engine.begin() as conn:
        return create_template(conn, console.key.id, f"charset {id(conn)}",
                               TemplateSource("{{이름}}님", "<p>{{이름}}</p>", None)).id


def csv_file(body: bytes, name: str = "명단.csv") -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": body}


def editor_grid(page, console, template_id: int) -> None:
    sign_in(page, console, "editor")
    open_grid(page, console.url, template_id)


def wait_imported(page) -> None:
    """TEXT's rows in the grid, checked. The empty grid's own check already said "all rows
    are valid" before the import: waiting for that alone read the grid too early."""
    page.wait_for_function("() => document.querySelector('#grid tbody tr input')?.value"
                           " === 'hong@example.com'")
    page.wait_for_function("() => document.getElementById('grid-status').textContent"
                           ".includes('all rows are valid')")


@pytest.mark.parametrize("name", FILES)
def test_grid_import_detects_each_charset(page, console, template_id, name):
    editor_grid(page, console, template_id)
    page.set_input_files("#import-csv", csv_file(FILES[name]))
    wait_imported(page)
    assert grid_values(page) == [["hong@example.com", "홍길동"], ["sam@example.com", "삼번"]]
    if name == "cp949":
        shot(page, "grid-import-cp949")


def test_grid_import_takes_the_charset_chosen_and_refuses_a_wrong_one(page, console,
                                                                      template_id):
    editor_grid(page, console, template_id)
    page.select_option("#import-charset", "utf-8")
    page.set_input_files("#import-csv", csv_file(FILES["cp949"]))
    refused = page.locator('#grid-errors li[data-import="refused"]')
    refused.wait_for()
    assert refused.inner_text().startswith("line 1: ")  # 이름 in the header is not UTF-8
    page.select_option("#import-charset", "cp949")
    page.set_input_files("#import-csv", csv_file(FILES["cp949"]))
    wait_imported(page)
    assert grid_values(page)[1] == ["sam@example.com", "삼번"]


def test_grid_import_refuses_undecodable_bytes_with_their_line(page, console, template_id):
    editor_grid(page, console, template_id)
    before = grid_values(page)
    page.set_input_files("#import-csv", csv_file(BAD))
    refused = page.locator('#grid-errors li[data-import="refused"]')
    refused.wait_for()
    assert refused.inner_text().startswith("line 4: bytes ff")
    assert grid_values(page) == before  # nothing imported, nothing replaced
    assert "\ufffd" not in page.content()
    shot(page, "grid-import-refused")


def test_grid_export_reads_back_in_utf8_with_a_bom_and_in_cp949(page, console, template_id):
    editor_grid(page, console, template_id)
    page.set_input_files("#import-csv", csv_file(FILES["utf-16"]))
    wait_imported(page)
    for charset, codec in (("utf-8-sig", "utf-8-sig"), ("cp949", "cp949")):
        page.select_option("#export-charset", charset)
        with page.expect_download() as download:
            page.click("#export-csv")
        body = open(download.value.path(), "rb").read()
        assert body.startswith(codecs.BOM_UTF8) == (charset == "utf-8-sig")
        assert body.decode(codec) == TEXT


@pytest.mark.parametrize("name,choice", [("cp949", "auto"), ("utf-16", "auto"),
                                         ("euc-kr", "cp949"), ("utf-8-bom", "utf-8")])
def test_plan_upload_reads_each_charset_and_results_export_in_both(page, console, template_id,
                                                                    name, choice):
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/plans")
    page.eval_on_selector("#new-plan", "details => { details.open = true; }")
    page.fill("input[name=name]", f"엑셀 {name}")
    page.select_option("select[name=template]", str(template_id))
    page.fill("input[name=topic]", f"charset-{name}")
    page.select_option("#plan-charset", choice)
    page.set_input_files("input[name=recipients]", csv_file(FILES[name]))
    page.click("#create-plan")
    page.locator(".plan strong", has_text=f"엑셀 {name}").wait_for()  # after the reload
    with console.engine.connect() as conn:
        names = conn.execute(text(
            "SELECT variables->>'이름' FROM campaign_recipients r JOIN campaigns c "
            "ON c.id = r.campaign_id WHERE c.topic_id = :t ORDER BY seq"),
            {"t": f"charset-{name}"}).scalars().all()
    assert names == ["홍길동", "삼번"]

    while expand_step(console.engine, console.broker, console.settings):
        pass
    for charset, codec in (("utf-8-sig", "utf-8-sig"), ("cp949", "cp949")):
        answer = page.request.get(f"{console.url}/ui/results/export",
                                  params={"topic": f"charset-{name}", "charset": charset})
        assert answer.ok
        assert answer.body().startswith(codecs.BOM_UTF8) == (charset == "utf-8-sig")
        lines = answer.body().decode(codec).splitlines()
        assert lines[0].startswith("id,email,state")
        assert sorted(line.split(",")[1] for line in lines[1:]) == [
            "hong@example.com", "sam@example.com"]


def test_plan_upload_refuses_undecodable_bytes_with_their_line(page, console, template_id):
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/plans")
    page.eval_on_selector("#new-plan", "details => { details.open = true; }")
    page.fill("input[name=name]", "깨진 파일")
    page.select_option("select[name=template]", str(template_id))
    page.fill("input[name=topic]", "charset-bad")
    page.set_input_files("input[name=recipients]", csv_file(BAD))
    page.click("#create-plan")
    error = page.locator("#plan-errors li").first
    error.wait_for()
    assert error.inner_text().startswith("line 4: bytes ff")
    with console.engine.connect() as conn:
        assert not conn.execute(text("SELECT count(*) FROM campaigns WHERE topic_id = "
                                     "'charset-bad'")).scalar_one()
