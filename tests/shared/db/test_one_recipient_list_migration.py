"""Migration 0016 moves the console's grids into recipient lists, beside the API's lists,
and its downgrade writes every list back as a grid.

Rows are written and read in SQL, not through ``shared.db``: those functions follow
the newest tables, and this test runs the schema as it was at 0015 and 0016.
"""

from __future__ import annotations

import json
import logging

from alembic import command
from sqlalchemy import inspect, text

from shared.db.engine import make_engine
from shared.db.migrate import alembic_config, upgrade

KEY = text("INSERT INTO api_keys (name, key_hash, key_prefix) VALUES (:name, :name, 'mp_') "
           "RETURNING id")
TEMPLATE = text("INSERT INTO templates (api_key_id, name) VALUES (:key, '안내') RETURNING id")
GRID = text("""INSERT INTO console_grids (api_key_id, name, template_id, columns, rows,
                                          created_at, updated_at)
               VALUES (:key, :name, :template, :columns, CAST(:rows AS jsonb),
                       '2026-01-02T03:04:05Z', '2026-02-03T04:05:06Z') RETURNING id""")
API_LIST = text("""INSERT INTO recipient_lists (api_key_id, name, columns, total, created_at)
                   VALUES (:key, 'API 고객', ARRAY['등급'], 1, '2026-03-01T00:00:00Z')
                   RETURNING id""")
API_ROW = text("""INSERT INTO recipient_list_rows (list_id, seq, email, name, values)
                  VALUES (:list, 1, 'api@example.com', '김 API', '{"등급": "골드"}')""")
LISTS = text("""SELECT id, name, columns, total, duplicates, template_id,
                       (created_at AT TIME ZONE 'UTC')::text AS created,
                       (updated_at AT TIME ZONE 'UTC')::text AS updated
                  FROM recipient_lists WHERE api_key_id = :key""")
ROWS_OF = text("""SELECT seq, email, name, values FROM recipient_list_rows
                   WHERE list_id = :list ORDER BY seq""")

#: A grid as the console saved it before 0016: names typed in the email cell, a blank
#: row, an address given twice (its domain in capitals), a cell the intake refuses,
#: a row shorter than the columns.
ROWS = [["홍길동 <hong@example.com>", "길동"], ["", ""],
        ['"Kim, Minsu" <m@example.com>', "민수"], ["hong@EXAMPLE.com", "중복"],
        ["not-an-email", "잘못"], ["short@example.com"]]


def _seed(conn) -> dict:
    """At 0015: a key with two grids and an API list; another key with a grid named as
    the first key's list."""
    key = conn.execute(KEY, {"name": "tenant"}).scalar_one()
    other = conn.execute(KEY, {"name": "other"}).scalar_one()
    template = conn.execute(TEMPLATE, {"key": key}).scalar_one()
    grid = conn.execute(GRID, {"key": key, "name": "6월 고객", "template": template,
                               "columns": ["email", "이름"], "rows": json.dumps(ROWS)}
                        ).scalar_one()
    conn.execute(GRID, {"key": key, "name": "빈 그리드", "template": None,
                        "columns": ["email"], "rows": "[]"})
    conn.execute(GRID, {"key": other, "name": "API 고객", "template": None,
                        "columns": ["email"], "rows": '[["o@example.com"]]'})
    api_list = conn.execute(API_LIST, {"key": key}).scalar_one()
    conn.execute(API_ROW, {"list": api_list})
    return {"key": key, "other": other, "template": template, "grid": grid,
            "api_list": api_list}


def test_grids_become_lists_beside_the_api_lists_and_come_back_on_downgrade(fresh_database,
                                                                            caplog):
    url = fresh_database()
    upgrade(url, "0015")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            seeded = _seed(conn)
        with caplog.at_level(logging.WARNING, logger="mailpipe.migrations"):
            upgrade(url, "0016")
        # The refused cell could never have been sent; it is left out, and said so.
        assert [r.getMessage() for r in caplog.records if r.name == "mailpipe.migrations"] == [
            f"grid {seeded['grid']} ('6월 고객'), row 5: 'not-an-email' is not a valid email "
            "address; left out of its list"]

        assert "console_grids" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            lists = {r.name: r for r in conn.execute(LISTS, {"key": seeded["key"]})}
            assert set(lists) == {"API 고객", "6월 고객", "빈 그리드"}
            api_list = lists["API 고객"]
            assert api_list.id == seeded["api_list"]  # a list keeps its id
            assert (api_list.template_id, api_list.updated) == (None, api_list.created)

            moved = lists["6월 고객"]
            assert (moved.columns, moved.total, moved.duplicates) == (["이름"], 3, 1)
            assert moved.template_id == seeded["template"]
            assert (moved.created, moved.updated) == ("2026-01-02 03:04:05",
                                                      "2026-02-03 04:05:06")
            assert [tuple(r) for r in conn.execute(ROWS_OF, {"list": moved.id})] == [
                (1, "hong@example.com", "홍길동", {"이름": "길동"}),
                (2, "m@example.com", "Kim, Minsu", {"이름": "민수"}),
                (3, "short@example.com", None, {"이름": ""})]
            empty = lists["빈 그리드"]
            assert (empty.columns, empty.total, empty.template_id) == ([], 0, None)
            [others] = conn.execute(LISTS, {"key": seeded["other"]}).all()
            assert (others.name, others.total) == ("API 고객", 1)

        command.downgrade(alembic_config(url), "0015")
        assert "template_id" not in {c["name"] for c in inspect(engine).get_columns(
            "recipient_lists")}
        with engine.connect() as conn:
            grids = {(r.api_key_id, r.name): r for r in conn.execute(text(
                "SELECT api_key_id, name, template_id, columns, rows, "
                "(created_at AT TIME ZONE 'UTC')::text AS created FROM console_grids"))}
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
        assert grid.created == "2026-01-02 03:04:05"
        assert grids[(key, "API 고객")].rows == [["김 API <api@example.com>", "골드"]]
    finally:
        engine.dispose()
    upgrade(url)  # and up again to the newest, grids and lists alike


def test_downgrade_keeps_grid_names_unique_per_key(fresh_database):
    url = fresh_database()
    upgrade(url, "0016")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            key = conn.execute(KEY, {"name": "tenant"}).scalar_one()
            ids = [conn.execute(text(
                "INSERT INTO recipient_lists (api_key_id, name, columns) "
                "VALUES (:key, 'VIP', '{}') RETURNING id"), {"key": key}).scalar_one()
                for _ in range(2)]
        command.downgrade(alembic_config(url), "0015")
        with engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM console_grids ORDER BY id")).scalars()
            assert list(names) == ["VIP", f"VIP ({ids[1]})"]
    finally:
        engine.dispose()
