"""Campaign bench: a million-recipient CSV through the real API and scheduler.

Starts PostgreSQL and Redis in a temporary folder and mailpipe's api (one
gunicorn worker) and scheduler exactly as an operator runs them
(``services.up.Stack``); no sender runs, so what is measured is intake and
expansion, not SES. Then

1. writes a ``--recipients``-row CSV (``email,name,city,code``, ~2% of rows
   repeating an earlier address with its domain upper-cased) to disk;
2. creates a ``{{name}}``/``{{city}}``/``{{code}}`` template and uploads the
   CSV as one streamed ``POST /v1/campaigns`` (``text/csv``), scheduled a few
   seconds ahead so that upload and expansion are timed apart;
3. with the default ``MAILPIPE_CAMPAIGN_WINDOW`` (the campaign is kept topped
   up to 20,000 unsent rows), times progress, pause, resume and cancel;
4. stops the scheduler, uploads the CSV again and runs the expansion step
   alone in this process with the window lifted: expansion rows/s of the
   machinery (rows inserted ``queued`` and enqueued), nothing competing;
   then times cancelling the whole list;
5. uploads it a third time and starts a scheduler with the window lifted,
   polling ``campaigns.expanded`` until every recipient is a message row:
   expansion rows/s while the scheduler's other steps run (as they would),
   then times progress, pause and resume of the whole list;
6. reports the peak RSS (``VmHWM``) of the API (gunicorn master and worker)
   and of the schedulers, and checks there is exactly one row per unique
   recipient.

    .venv/bin/python bench/campaign.py [--recipients 1000000] [--json out.json]

Everything started is stopped at the end, on error too; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psutil
from common import BenchError, deadline_loop, http_json
from sqlalchemy import Engine, text

from services.scheduler.expand import expand_step
from services.up import Stack
from shared.broker.queues import make_broker
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.runtime.localservers import free_port, start_postgres, start_redis
from shared.settings import load_settings

RATE_TARGET = 50_000
#: The default MAILPIPE_CAMPAIGN_WINDOW.
WINDOW = 20_000
RSS_TARGET_MB = 200
DUPLICATE_EVERY = 50


def write_csv(path: Path, recipients: int) -> int:
    """The recipient grid; returns how many unique addresses it holds."""
    unique = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,city,code\n")
        for i in range(recipients):
            if i and i % DUPLICATE_EVERY == 0:
                out.write(f"user{i - 1}@BENCH.EXAMPLE,Dup {i},Busan,D{i}\n")
                continue
            unique += 1
            out.write(f"user{i}@bench.example,사용자 {i},서울,C{i:07d}\n")
    return unique


def upload(api: str, key: str, csv_path: Path, template_id: int, when: datetime) -> tuple:
    params = urlencode({"name": "bench", "templateId": template_id, "topicId": "bench",
                        "scheduledAt": when.isoformat()})
    started = time.perf_counter()
    with csv_path.open("rb") as body:
        # A file body is streamed from disk by http.client.
        request = urllib.request.Request(f"{api}/v1/campaigns?{params}", data=body,
                                         method="POST")
        request.add_header("x-api-key", key)
        request.add_header("content-type", "text/csv; charset=utf-8")
        request.add_header("content-length", str(csv_path.stat().st_size))
        try:
            with urllib.request.urlopen(request, timeout=1800) as answer:
                created = json.load(answer)
        except urllib.error.HTTPError as exc:
            raise BenchError(f"upload answered {exc.code}: {exc.read()[:2000]!r}") from None
    return time.perf_counter() - started, created


def peak_rss_mb(pid: int) -> dict[str, float]:
    """VmHWM (peak resident set) of ``pid`` and each of its descendants, in MB."""
    peaks = {}
    process = psutil.Process(pid)
    for member in [process, *process.children(recursive=True)]:
        try:
            status = Path(f"/proc/{member.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[f"{member.pid} {' '.join(member.cmdline()[-4:])}"] = int(
                    line.split()[1]) / 1024
    return peaks


def expanded(engine: Engine, campaign_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT expanded FROM campaigns WHERE id = :c"),
                            {"c": campaign_id}).scalar_one()


def measure_expansion(engine: Engine, campaign_id: int, total: int, timeout: float) -> dict:
    started = None
    last, last_change = 0, time.monotonic()
    for _ in deadline_loop(timeout, "expansion", poll=0.05):
        done = expanded(engine, campaign_id)
        now = time.perf_counter()
        if done and started is None:
            started = now
            first = done
        if done != last:
            last, last_change = done, time.monotonic()
        elif started and time.monotonic() - last_change > 60:
            raise BenchError(f"expansion stalled at {done}/{total}")
        if done >= total:
            seconds = now - started
            # The first batch was already in when polling saw it: count from it.
            return {"rows": total, "seconds": round(seconds, 2),
                    "rows_per_s": round((total - first) / seconds) if seconds else None}
    raise AssertionError("unreachable")


def create_due_campaign(api: str, key: str, engine: Engine, csv_path: Path, template_id: int,
                        unique: int) -> tuple[float, dict]:
    """Upload the CSV as a campaign scheduled far ahead, then make it due; (upload s, answer)."""
    upload_s, created = upload(api, key, csv_path, template_id,
                               datetime.now(UTC) + timedelta(days=1))
    print(f"upload: {upload_s:.1f}s, {created['total']} recipients, "
          f"{created['duplicates']} duplicates", flush=True)
    if created["total"] != unique:
        raise BenchError(f"{created['total']} recipients stored, expected {unique}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET scheduled_at = now() WHERE id = :c"),
                     {"c": created["id"]})
    return upload_s, created


def timed_calls(api: str, key: str, campaign_id: int, calls: tuple) -> dict:
    """Time each (name, method, path suffix) on the campaign; check total == sum(status)."""
    timings = {}
    for name, method, path in calls:
        started = time.perf_counter()
        status, shown = http_json(method, f"{api}/v1/campaigns/{campaign_id}{path}", key=key,
                                  body=b"" if method == "POST" else None, timeout=600)
        timings[name] = round(time.perf_counter() - started, 2)
        if status != 200 or shown["total"] != sum(shown["status"].values()):
            raise BenchError(f"{name}: {status} {shown}")
        print(f"{name}: {timings[name]}s {shown['phase']} {shown['status']}", flush=True)
    return timings


def check_one_row_each(engine: Engine, campaign_id: int, unique: int) -> None:
    with engine.connect() as conn:
        rows, distinct = conn.execute(text(
            "SELECT count(*), count(DISTINCT to_addr) FROM messages WHERE campaign_id = :c"),
            {"c": campaign_id}).one()
    if rows != unique or distinct != unique:
        raise BenchError(f"{rows} rows, {distinct} distinct; expected {unique}")


def wait_for_window(engine: Engine, campaign_id: int, window: int, timeout: float) -> None:
    for _ in deadline_loop(timeout, "the first window to be expanded", poll=0.1):
        if expanded(engine, campaign_id) >= window:
            return


def run(args, workdir: Path) -> dict:
    pg = start_postgres(workdir / "pg", fsync=False)
    redis = start_redis(workdir / "redis")
    stack = None
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url)
        with engine.begin() as conn:
            _, key = create_key(conn, "bench", [])
        csv_path = workdir / "recipients.csv"
        started = time.perf_counter()
        unique = write_csv(csv_path, args.recipients)
        print(f"wrote {args.recipients} rows ({csv_path.stat().st_size / 1e6:.0f} MB, "
              f"{unique} unique) in {time.perf_counter() - started:.1f}s", flush=True)

        port = free_port()
        api = f"http://127.0.0.1:{port}"
        env = {"MAILPIPE_DATABASE_URL": pg.url, "MAILPIPE_REDIS_URL": redis.url,
               "MAILPIPE_TRANSPORT": "file", "MAILPIPE_FILE_DIR": str(workdir / "outbox"),
               "MAILPIPE_DEFAULT_FROM": "bench@bench.example", "MAILPIPE_LOG_LEVEL": "WARNING"}
        stack = Stack(env, log_dir=workdir / "logs")
        stack.start("api", "api", "--bind", f"127.0.0.1:{port}", "--workers", "1")
        stack.start("scheduler", "scheduler")
        for _ in deadline_loop(60, "the API", poll=0.1):
            try:
                if http_json("GET", f"{api}/health", key=key, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
        status, template = http_json("POST", f"{api}/v1/templates", key=key, body=json.dumps({
            "name": "bench", "subject": "{{name}}님, {{city}} 소식",
            "html": "<p>{{name}}님 안녕하세요. 코드: {{code}}</p>" * 4}).encode(), timeout=600)
        if status != 201:
            raise BenchError(f"template: {status} {template}")

        # 1. As configured by default: the campaign is kept topped up to a window
        #    of unsent rows, and pause/resume/cancel touch only those.
        print("-- default window", flush=True)
        upload_1, first = create_due_campaign(api, key, engine, csv_path, template["id"], unique)
        wait_for_window(engine, first["id"], min(WINDOW, unique), 120)
        windowed = timed_calls(api, key, first["id"], (
            ("progress", "GET", ""), ("pause", "POST", "/pause"), ("resume", "POST", "/resume"),
            ("cancel", "POST", "/cancel")))
        scheduler_rss = peak_rss_mb(stack.processes["scheduler"].pid)

        stack.signal("scheduler", signal.SIGTERM)
        stack.processes["scheduler"].wait(60)

        # 2. The expansion step alone (rows and their enqueue), window lifted:
        #    what the machinery does (run here, in this process).
        print("-- expansion step alone, whole list", flush=True)
        lifted = load_settings(database_url=pg.url, redis_url=redis.url,
                               campaign_window=0, _env_file=None)
        upload_2, alone = create_due_campaign(api, key, engine, csv_path, template["id"], unique)
        broker = make_broker(lifted)
        started = time.perf_counter()
        while expand_step(engine, broker, lifted):
            pass
        seconds = time.perf_counter() - started
        expansion_alone = {"rows": unique, "seconds": round(seconds, 2),
                           "rows_per_s": round(unique / seconds)}
        print(f"expansion alone: {expansion_alone}", flush=True)
        check_one_row_each(engine, alone["id"], unique)
        # Cancelled, so no sender would send its rows (their queue messages stay in Redis).
        whole = timed_calls(api, key, alone["id"], (("cancel", "POST", "/cancel"),))

        # 3. The scheduler process with the window lifted: expansion (and its
        #    enqueue in Redis) while its other steps run.
        print("-- scheduler, window lifted, whole list", flush=True)
        unbounded = Stack({**env, "MAILPIPE_CAMPAIGN_WINDOW": "0"},
                          log_dir=workdir / "logs")
        stack.processes["scheduler-unbounded"] = unbounded.start("scheduler-unbounded",
                                                                 "scheduler")
        upload_3, second = create_due_campaign(api, key, engine, csv_path, template["id"],
                                               unique)
        expansion = measure_expansion(engine, second["id"], unique, args.timeout)
        print(f"expansion by the scheduler: {expansion}", flush=True)
        whole.update(timed_calls(api, key, second["id"], (
            ("progress", "GET", ""), ("pause", "POST", "/pause"), ("resume", "POST", "/resume"))))

        check_one_row_each(engine, second["id"], unique)
        api_rss = peak_rss_mb(stack.processes["api"].pid)
        scheduler_rss.update(peak_rss_mb(stack.processes["scheduler-unbounded"].pid))
        return {
            "recipients": args.recipients,
            "unique": unique,
            "csv_mb": round(csv_path.stat().st_size / 1e6, 1),
            "upload_s": [round(upload_1, 2), round(upload_2, 2), round(upload_3, 2)],
            "upload_rows_per_s": round(args.recipients / min(upload_1, upload_2, upload_3)),
            "expansion_alone": expansion_alone,
            "expansion_by_scheduler": expansion,
            "timings_s": {f"window {WINDOW}": windowed, "whole list expanded": whole},
            "api_peak_rss_mb": {k: round(v, 1) for k, v in api_rss.items()},
            "scheduler_peak_rss_mb": {k: round(v, 1) for k, v in scheduler_rss.items()},
            "targets": {"expansion_rows_per_s": RATE_TARGET, "rss_mb": RSS_TARGET_MB},
        }
    finally:
        if stack:
            stack.stop_all()
        redis.stop()
        pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mailpipe-bench-campaign-"))
    try:
        figures = run(args, workdir)
    except BenchError as exc:
        print(f"bench failed: {exc} (logs in {workdir / 'logs'})", file=sys.stderr)
        return 1
    finally:
        if not args.keep and "figures" in locals():
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    worst_rss = max([*figures["api_peak_rss_mb"].values(),
                     *figures["scheduler_peak_rss_mb"].values()])
    best = max(figures["expansion_alone"]["rows_per_s"],
               figures["expansion_by_scheduler"]["rows_per_s"] or 0)
    ok = best >= RATE_TARGET and worst_rss < RSS_TARGET_MB
    print("targets met" if ok else "targets NOT met", file=sys.stderr)
    return 0 if ok else 2


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
