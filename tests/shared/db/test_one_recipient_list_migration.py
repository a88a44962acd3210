"""Migration 0016 moves the console's grids into recipient lists, beside the API's lists,
and its downgrade writes every list back as a grid."""

from __future__ import annotations

import json
import logging

from alembic import command
from sqlalchemy import inspect, text

from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import alembic_config, upgrade
from shared.db.recipient_lists import list_lists, list_rows
from shared.db.templates import create_template
from shared.intake.addresses import NamedAddress
from shared.rendering.mustache import TemplateSource

GRID = text("""INSERT INTO console_grids (api_key_id, name, template_id, columns, rows,
                                          created_at, updated_at)
               VALUES (:key, :name, :template, :columns, CAST(:rows AS jsonb),
                       '2026-01-02T03:04:05Z', '2026-02-03T04:05:06Z') RETURNING id""")
API_LIST = text("""INSERT INTO recipient_lists (api_key_id, name, columns, total, created_at)
                   VALUES (:key, 'API 고객', ARRAY['등급'], 1, '2026-03-01T00:00:00Z')
                   RETURNING id""")
API_ROW = text("""INSERT INTO recipient_list_rows (list_id, seq, email, name, values)
                  VALUES (:list, 1, 'api@example.com', '김 API', '{"등급": "골드"}')""")

#: A grid as the console saved it before 0016: names typed in the email cell, a blank
#: row, an address given twice (its domain in capitals), a cell the intake refuses,
#: a row shorter than the columns.
ROWS = [["홍길동 <hong@example.com>", "길동"], ["", ""],
        ['"Kim, Minsu" <m@example.com>', "민수"], ["hong@EXAMPLE.com", "중복"],
        ["not-an-email", "잘못"], ["short@example.com"]]


def _seed(url: str) -> dict:
    """At 0015: a key with two grids and an API list; another key with a grid named as
    the first key's list."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            key, _ = create_key(conn, "tenant", [])
            other, _ = create_key(conn, "other", [])
            template = create_template(conn, key.id, "안내", TemplateSource(
                "{{이름}}님", "<p>{{이름}}</p>", None))
            grid = conn.execute(GRID, {"key": key.id, "name": "6월 고객",
                                       "template": template.id, "columns": ["email", "이름"],
                                       "rows": json.dumps(ROWS)}).scalar_one()
            empty = conn.execute(GRID, {"key": key.id, "name": "빈 그리드", "template": None,
                                        "columns": ["email"], "rows": "[]"}).scalar_one()
            conn.execute(GRID, {"key": other.id, "name": "API 고객", "template": None,
                                "columns": ["email"], "rows": '[["o@example.com"]]'})
            api_list = conn.execute(API_LIST, {"key": key.id}).scalar_one()
            conn.execute(API_ROW, {"list": api_list})
        return {"key": key.id, "other": other.id, "template": template.id, "grid": grid,
                "empty": empty, "api_list": api_list}
    finally:
        engine.dispose()


def test_grids_become_lists_beside_the_api_lists_and_come_back_on_downgrade(fresh_database,
                                                                            caplog):
    url = fresh_database()
    upgrade(url, "0015")
    seeded = _seed(url)
    with caplog.at_level(logging.WARNING, logger="mailpipe.migrations"):
        upgrade(url, "0016")
    # The refused cell could never have been sent; it is left out, and said so.
    assert [r.getMessage() for r in caplog.records if r.name == "mailpipe.migrations"] == [
        f"grid {seeded['grid']} ('6월 고객'), row 5: 'not-an-email' is not a valid email "
        "address; left out of its list"]

    engine = make_engine(url, pool_size=1)
    try:
        assert "console_grids" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            lists = {stored.name: stored for stored in list_lists(conn, seeded["key"])}
            assert set(lists) == {"API 고객", "6월 고객", "빈 그리드"}
            api_list = lists["API 고객"]
            assert api_list.id == seeded["api_list"]  # a list keeps its id
            assert (api_list.template_id, api_list.updated_at) == (None, api_list.created_at)

            moved = lists["6월 고객"]
            assert (moved.columns, moved.total, moved.duplicates) == (["이름"], 3, 1)
            assert moved.template_id == seeded["template"]
            assert moved.created_at.isoformat() == "2026-01-02T03:04:05+00:00"
            assert moved.updated_at.isoformat() == "2026-02-03T04:05:06+00:00"
            assert list(list_rows(conn, moved.id)) == [
                (1, NamedAddress("hong@example.com", "홍길동"), {"이름": "길동"}),
                (2, NamedAddress("m@example.com", "Kim, Minsu"), {"이름": "민수"}),
                (3, NamedAddress("short@example.com"), {"이름": ""})]
            empty = lists["빈 그리드"]
            assert (empty.columns, empty.total, empty.template_id) == ([], 0, None)
            [others] = list_lists(conn, seeded["other"])
            assert (others.name, others.total) == ("API 고객", 1)

        command.downgrade(alembic_config(url), "0015")
        assert "template_id" not in {c["name"] for c in inspect(engine).get_columns(
            "recipient_lists")}
        with engine.connect() as conn:
            grids = {(r.api_key_id, r.name): r for r in conn.execute(text(
                "SELECT api_key_id, name, template_id, columns, rows, created_at "
                "FROM console_grids"))}
            lists_after = conn.execute(text("SELECT count(*) FROM recipient_lists")).scalar()
        assert lists_after == 4  # lists stay lists
        key = seeded["key"]
        assert set(grids) == {(key, "API 고객"), (key, "6월 고객"), (key, "빈 그리드"),
                              (seeded["other"], "API 고객")}
        grid = grids[(key, "6월 고객")]
        assert (grid.template_id, grid.columns) == (seeded["template"], ["email", "이름"])
        assert grid.rows == [["홍길동 <hong@example.com>", "길동"],
                             ['"Kim, Minsu" <m@example.com>', "민수"],
                             ["short@example.com", ""]]
        assert grids[(key, "API 고객")].rows == [["김 API <api@example.com>", "골드"]]
        assert grid.created_at.isoformat() == "2026-01-02T03:04:05+00:00"
    finally:
        engine.dispose()
    upgrade(url)  # and up again, grids and lists alike


def test_downgrade_keeps_grid_names_unique_per_key(fresh_database):
    url = fresh_database()
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            key, _ = create_key(conn, "tenant", [])
            ids = [conn.execute(text(
                "INSERT INTO recipient_lists (api_key_id, name, columns) "
                "VALUES (:key, 'VIP', '{}') RETURNING id"), {"key": key.id}).scalar_one()
                for _ in range(2)]
        command.downgrade(alembic_config(url), "0015")
        with engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM console_grids ORDER BY id")).scalars()
            assert list(names) == ["VIP", f"VIP ({ids[1]})"]
    finally:
        engine.dispose()
