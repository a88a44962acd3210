"""A key's suppression list searched as the console searches it (an address, a domain, a
prefix), page by page in address order; a person's additions and removals audited."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.db.audit import Actor, entries
from shared.db.suppressions import (
    add_suppressions,
    remove_suppression,
    search_suppressions,
)

ADDRESSES = ["kim@naver.com", "kim.minsu@gmail.com", "lee@naver.com", "park@mail.naver.com",
             "100%_sure@example.com", "naver.com.fan@example.com", "kimchi@daum.net"]


@pytest.fixture
def listed(engine, api_key):
    key = api_key[0]
    with engine.begin() as conn:
        add_suppressions(conn, key.id, ADDRESSES, "manual")
    return key


@pytest.mark.parametrize(("typed", "found"), [
    ("", sorted(ADDRESSES)),
    ("KIM@naver.com", ["kim@naver.com"]),
    ("@naver.com", ["kim@naver.com", "lee@naver.com"]),
    # A bare domain, or the start of an address that reads like one.
    ("naver.com", ["kim@naver.com", "lee@naver.com", "naver.com.fan@example.com"]),
    ("kim", ["kim.minsu@gmail.com", "kim@naver.com", "kimchi@daum.net"]),
    ("100%_", ["100%_sure@example.com"]),
    ("1%", []),  # wildcards are taken literally
])
def test_a_search_finds_an_address_a_domain_or_a_prefix(engine, listed, typed, found):
    with engine.connect() as conn:
        page = search_suppressions(conn, listed.id, typed)
    assert [e.address for e in page.entries] == found and not page.more


def test_the_list_is_read_page_by_page_in_address_order(engine, listed):
    seen, after = [], None
    with engine.connect() as conn:
        while True:
            page = search_suppressions(conn, listed.id, "", after=after, limit=3)
            seen += [e.address for e in page.entries]
            if not page.more:
                break
            after = page.entries[-1].address
    assert seen == sorted(ADDRESSES)


def test_another_keys_list_is_not_searched(engine, listed):
    from shared.db.keys import create_key

    with engine.begin() as conn:
        other, _ = create_key(conn, "other", [])
        assert search_suppressions(conn, other.id, "kim").entries == []


def test_additions_and_removals_by_a_person_are_audited(engine, api_key):
    key = api_key[0]
    admin = Actor("console", "admin@corp.example", "192.0.2.7")
    with engine.begin() as conn:
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()
        add_suppressions(conn, key.id, ["a@example.com", "B@example.com"], "manual",
                         actor=admin)
        add_suppressions(conn, key.id, ["a@example.com"], "manual", actor=admin)  # no change
        add_suppressions(conn, key.id, ["bounced@example.com"], "bounce")  # the pipeline's
        assert remove_suppression(conn, key.id, "A@example.com", actor=admin)
        assert not remove_suppression(conn, key.id, "a@example.com", actor=admin)
    with engine.connect() as conn:
        log = [e for e in entries(conn, action="suppression.") if e.id > before]
    assert [(e.action, e.target) for e in log] == [
        ("suppression.remove", "a@example.com"), ("suppression.add", "2 addresses")]
    assert log[0].before["reason"] == "manual" and log[0].before["key"] == key.id
    assert log[1].after == {"key": key.id, "reason": "manual",
                            "addresses": ["a@example.com", "b@example.com"]}


def _plan(conn, statement) -> dict:
    compiled = statement.compile(conn)
    return conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                compiled.params).scalar_one()[0]["Plan"]


def _scans(node: dict, parent: dict | None = None):
    """(scan node, its parent) of every scan in the plan."""
    if "Scan" in node["Node Type"] and node["Node Type"] != "Subquery Scan":
        yield node, parent
    for child in node.get("Plans", []):
        yield from _scans(child, node)


@pytest.mark.parametrize(("typed", "indexes"), [
    ("", {"suppressions_prefix"}),
    ("kim", {"suppressions_prefix"}),
    ("@naver.com", {"suppressions_domain"}),
    ("naver.com", {"suppressions_prefix", "suppressions_domain"}),
])
def test_a_search_reads_its_index_in_order_never_the_whole_list(engine, listed, typed,
                                                                indexes):
    """Each arm is an index range read in address order and stopped at the page's size
    (an Index Scan right under its Limit: nothing sorts every match). Sequential and
    bitmap scans are switched off: on a few rows the planner would rightly prefer them,
    so this asks whether an index serves the arm in order, as it does a big list
    (bench/key_pages.py)."""
    from shared.db.suppressions import _search_statement

    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        scans = list(_scans(_plan(conn, _search_statement(listed.id, typed, None, 101))))
    assert {scan.get("Index Name") for scan, _ in scans} == indexes
    assert all(scan["Node Type"] in ("Index Scan", "Index Only Scan") for scan, _ in scans)
    assert all(parent["Node Type"] == "Limit" for _, parent in scans)
