"""No dashboard query reads a whole table: each is a range of an index, however many
messages and events there are (the figures at 1,000,000 and 3,000,000: bench/dashboard.py).

Sequential scans are priced out (``enable_seqscan = off``), so a plan still holding one,
or an index read end to end with no condition, means no index can answer the query. A
partial index may be read whole: it holds only the rows of its condition (the unknown
and failed messages, the queued ones), not the table.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from services.console.pages.dashboard import statements
from tests.shared.db.test_traffic import outcome, queued

NOW = datetime.now(UTC)
FILTERS = {"every key": (None, None), "one key": (1, None), "one topic": (None, "news"),
           "one key's topic": (1, "news")}


def reads(node: dict, partial: set[str]) -> list[tuple[str, str, bool]]:
    """(node type, what it reads, whether it reads a part only) of every scan in a plan."""
    found = []
    if "Relation Name" in node or "Index Name" in node:
        index = node.get("Index Name")
        found.append((node["Node Type"], index or node["Relation Name"],
                      "Index Cond" in node or "Recheck Cond" in node or index in partial))
    for child in node.get("Plans", []):
        found += reads(child, partial)
    return found


@pytest.mark.parametrize("who", list(FILTERS))
def test_no_dashboard_query_reads_a_whole_table(engine, api_key, who):
    outcome(engine, queued(engine, api_key[0].id, 3, "news"))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        partial = set(conn.execute(text(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indpred IS NOT NULL")
        ).scalars())
        for name, statement in statements(NOW, *FILTERS[who]).items():
            compiled = statement.compile(conn)
            plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                        compiled.params).scalar_one()[0]["Plan"]
            scans = reads(plan, partial)
            assert scans, name
            for kind, relation, bounded in scans:
                assert kind != "Seq Scan", f"{name}: {scans}"
                assert bounded, f"{name} reads all of {relation}: {scans}"
