"""What the benches share: their error, a polling deadline, JSON over HTTP, and for
the benches that fill PostgreSQL with a million messages (messages, search, dashboard,
key_pages): the keys the rows belong to, the batched fill, the shares written as SQL,
the timing of a query and what its plan reads."""

from __future__ import annotations

import json
import math
import shutil
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.runtime.localservers import start_postgres


class BenchError(RuntimeError):
    pass


def deadline_loop(timeout: float, what: str, poll: float = 0.25) -> Iterator[None]:
    """Yield until ``timeout`` seconds have passed, then raise BenchError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        yield
        time.sleep(poll)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_json(method: str, url: str, *, body: bytes | None = None, key: str | None = None,
              content_type: str = "application/json", timeout: float = 60.0) -> tuple[int, dict]:
    """(status, JSON answer); an error status comes back with its text as ``error``."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("content-type", content_type)
    if key:
        request.add_header("x-api-key", key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")[:2000]}


#: The rows one fill statement inserts.
BATCH = 100_000


def make_keys(conn, count: int) -> tuple[list[int], list[int]]:
    """``count`` API keys and one content each: (key ids, content ids), in step."""
    keys, contents = [], []
    for n in range(count):
        keys.append(create_key(conn, f"bench {n}", [])[0].id)
        contents.append(conn.execute(text(
            "INSERT INTO contents (api_key_id, subject, html) "
            "VALUES (:k, 'news', '<p>news</p>') RETURNING id"), {"k": keys[-1]}).scalar_one())
    return keys, contents


def fill(conn, statement, rows: int, seed: float, **params) -> None:
    """Run ``statement`` over rows 1..``rows``, ``BATCH`` at a time (bound as ``:a`` and
    ``:b``, with ``params``), random() seeded first so every run fills the same rows."""
    conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    for start in range(1, rows + 1, BATCH):
        conn.execute(statement, {"a": start, "b": min(rows, start + BATCH - 1), **params})


def share_case(column: str, choices, otherwise: str) -> str:
    """A SQL CASE choosing one of ``choices`` ((SQL value, share), …) by ``column``, a
    random number in [0, 1); ``otherwise`` where the shares run out."""
    cases, upto = [], 0.0
    for value, share in choices:
        upto += share
        cases.append(f"WHEN {column} < {upto:.4f} THEN {value}")
    return f"CASE {' '.join(cases)} ELSE {otherwise} END"


def key_case(column: str, shares: tuple[float, ...]) -> str:
    """A SQL CASE choosing a key, 1-based, each with its share of ``shares``."""
    return share_case(column, enumerate(shares[:-1], 1), str(len(shares)))


def vacuum_analyze(engine, *tables: str) -> None:
    """VACUUM ANALYZE each of ``tables`` (none: the whole database), outside a transaction."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables or ("",):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}".strip())


def relation_sizes(engine, names: tuple[str, ...]) -> dict[str, str]:
    """Each relation's size on disk, without its indexes, as PostgreSQL writes it."""
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT c.relname, pg_size_pretty(pg_relation_size(c.oid)) FROM pg_class c "
            "WHERE c.relname = ANY(:names) ORDER BY c.relname"), {"names": list(names)}).all())


def timed(run: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    """Milliseconds of each of ``repeat`` runs, and what the last returned."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def p95(times: list[float]) -> float:
    """The 95th percentile by nearest rank: the smallest time at least 95% do not exceed."""
    return sorted(times)[max(0, math.ceil(0.95 * len(times)) - 1)]


def summary(times: list[float], digits: int = 1) -> dict[str, float]:
    """p50, p95 and max in ms, rounded."""
    return {"p50_ms": round(statistics.median(times), digits),
            "p95_ms": round(p95(times), digits), "max_ms": round(max(times), digits)}


def explain(conn, statement) -> dict:
    """The plan PostgreSQL chooses for a SQLAlchemy ``statement``, as EXPLAIN's JSON."""
    compiled = statement.compile(conn)
    return conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                compiled.params).scalar_one()[0]["Plan"]


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def indexes_read(plan: dict) -> list[str]:
    """The indexes (or "Seq Scan") a plan reads, each once, outermost first."""
    found: list[str] = []
    for node in _nodes(plan):
        name = node.get("Index Name") or (
            "Seq Scan" if node["Node Type"] == "Seq Scan" else None)
        if name and name not in found:
            found.append(name)
    return found


def node_types(plan: dict) -> list[str]:
    """The plan's nodes, outermost first: type, and the index or table a scan reads."""
    found = []
    for node in _nodes(plan):
        read = node.get("Index Name") or node.get("Relation Name")
        found.append(node["Node Type"] + (f" ({read})" if read else ""))
    return found


def on_migrated_postgres(work: Path, measure: Callable[[Engine], dict]) -> dict:
    """Start PostgreSQL in ``work`` (fsync off), migrate it, return ``measure(engine)``;
    stopped afterwards, on error too."""
    postgres = start_postgres(work / "postgres", fsync=False)
    try:
        upgrade(postgres.url)
        engine = make_engine(postgres.url, pool_size=2)
        try:
            return measure(engine)
        finally:
            engine.dispose()
    finally:
        postgres.stop()


def run_in_scratch(run: Callable[[Path], dict], name: str, json_path: Path | None,
                   shown: Callable[[dict], dict] = lambda report: report) -> int:
    """Run a bench in a scratch folder (removed after), print its report (``shown`` of
    it), write it whole to ``json_path`` if given; exit code 0 when its target was met."""
    work = Path(tempfile.mkdtemp(prefix=f"mailpipe-{name}-"))
    try:
        report = run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(shown(report), indent=2))
    if json_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["target_met"] else 2
