"""End-to-end throughput bench: the whole mailpipe stack against a fake SES.

Starts PostgreSQL and Redis in a temporary folder, the fake SES of
``bench/fake_ses.py`` and the four mailpipe processes exactly as an operator
runs them (``services.up.Stack``), then

1. measures the ceiling: raw boto3 ``sesv2.send_email`` calls/s with the same
   P processes x T threads against the same fake SES (``bench/ceiling.py``),
   once before the stack starts and once after it stopped; the better counts
   (and once more through mailpipe's own SES wire, shared.transports.ses_wire,
   what the senders send with: the "wire ceiling", reported beside);
2. warms the pipeline up (a few hundred messages, not measured);
3. POSTs ``--messages`` messages to unique recipients in requests of
   ``--per-request`` recipients, one after the other, timing each;
4. waits until every row is ``sent`` (or in another final state) and reports
   end-to-end messages/s (first accept to last ``sent_at``, both from the
   database), p50/p99 accept-to-sent latency (``sent_at - created_at``),
   deliveries and duplicates seen by the fake SES, CPU seconds per component
   and the ratio pipeline / ceiling.

5. with the stack idle, POSTs ``--idle`` single messages one at a time and
   times each from the POST to its arrival at the fake SES (p50/p95).

With ``--webhooks``, a ``mailpipe webhooks`` process runs too and the key has
an endpoint on a local receiver (bench/chaos.py's ``WebhookReceiver``); after
the warm-up, ``--webhook-rounds`` rounds each send ``--webhook-messages``
messages three times (``WEBHOOK_MODES``): with the endpoint disabled; enabled,
the webhooks process stopped until the round is sent (every send writes its
``message.sent`` event and delivery in the recorder's transaction: the cost
the send path carries); enabled and delivered to meanwhile. The report gives
each round's send rate and CPU per message, and the median slowdown of each
mode against the round without: the target is under 10% for the outbox.

Tracking is on by default (``MAILPIPE_SECRET_KEY`` set: what every seed
user runs; ``--no-tracking`` to compare). Each message goes by SendEmail
(``MAILPIPE_SES_BULK=false``) unless ``--bulk``: then step 3 is a campaign
of 100,000 recipients (a ``{{name}}`` template and a CSV of email,name,
uploaded as one ``POST /v1/campaigns`` due at once, expanded by the
scheduler as in production), sent by SendBulkEmail; its time runs from the
upload's answer, and the ratio is recipients/s to the per-message ceiling
(calls/s).

Other work on the machine skews every figure: the report says how busy the
machine was with work not started by this bench, and warns above 10%.

    .venv/bin/python bench/pipeline.py [--latency-ms 0] [--no-tracking] [--bulk] [--json out.json]

Everything started is stopped at the end, on error too; every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import redis as redis_lib
from ceiling import measure_ceiling
from chaos import WebhookReceiver
from common import BenchError, deadline_loop, http_json
from fake_ses import FakeSesProcess, start_fake_ses
from sqlalchemy import Engine, text

from services.up import Stack
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.messages import ClaimedMessage
from shared.db.migrate import upgrade
from shared.rendering.mime import render
from shared.runtime.localservers import free_port, start_postgres, start_redis
from shared.settings import Settings
from shared.states import FINAL

FROM = "bench@bench.example"
SUBJECT = "mailpipe bench"
HTML = ("<html><body><h1>Hello from the bench</h1>"
        + "<p>A paragraph of a realistic newsletter, with a <a href='https://example.com/'>"
          "link</a> and some <b>markup</b>.</p>" * 8
        + "</body></html>")
PIPELINE_DOMAIN = "pipeline.bench.example"
WARMUP_DOMAIN = "warmup.bench.example"
FINAL_STATES = tuple(FINAL)
ACCEPT_TARGET_S = 1.0
NOT_OURS = "not ours"

#: Above this share of the machine used by other work, the report warns.
NOISE_WARNING = 0.10
RATIO_TARGET = 0.7
#: Sending with a webhook endpoint may be at most this much slower than without.
WEBHOOK_SLOWDOWN_TARGET = 0.10
#: --bulk: recipients/s over the per-message ceiling's calls/s.
BULK_RATIO_TARGET = 5.0
IDLE_DOMAIN = "idle.bench.example"
IDLE_TARGET_P50_S = 0.050
#: Without a new delivery for this long, wait_until_done asks the database.
DB_POLL_WHEN_QUIET = 5.0


def newsletter(extra_kb: int) -> str:
    """The bench's HTML with ``extra_kb`` KiB of plain paragraphs more (no more links)."""
    if not extra_kb:
        return HTML
    paragraph = "<p>" + "More of the newsletter's text, as long ones have. " * 20 + "</p>"
    padding = paragraph * (extra_kb * 1024 // len(paragraph) + 1)
    return HTML.replace("</body>", padding + "</body>", 1)


def post_campaign(api: str, key: str, topic: str, recipients: list[str],
                  html: str = HTML) -> tuple[float, int]:
    """A ``{{name}}`` template and a campaign of ``recipients`` due now, uploaded as CSV;
    returns (seconds until the upload was answered, recipients accepted)."""
    status, template = http_json("POST", f"{api}/v1/templates", key=key, body=json.dumps({
        "name": f"bench-{topic}", "subject": SUBJECT + " for {{name}}",
        "html": html.replace("<h1>", "<p>Dear {{name}},</p><h1>", 1)}).encode())
    if status != 201:
        raise BenchError(f"POST /v1/templates answered {status}: {template}")
    csv = "email,name\n" + "".join(f"{r},Reader {i}\n" for i, r in enumerate(recipients))
    params = urllib.parse.urlencode({"name": topic, "templateId": template["id"],
                                     "topicId": topic})
    started = time.perf_counter()
    status, campaign = http_json("POST", f"{api}/v1/campaigns?{params}", body=csv.encode(),
                                 key=key, content_type="text/csv; charset=utf-8", timeout=600)
    seconds = time.perf_counter() - started
    if status != 201:
        raise BenchError(f"POST /v1/campaigns answered {status}: {campaign}")
    return seconds, campaign["total"]


def post_messages(api: str, key: str, topic: str, recipients: list[str],
                  html: str = HTML) -> tuple[float, int]:
    """POST one request; returns (seconds until the answer was read, messages accepted)."""
    body = json.dumps({"messages": [{"topicId": topic, "emails": recipients,
                                     "subject": SUBJECT, "content": html}]}).encode()
    started = time.perf_counter()
    status, answer = http_json("POST", f"{api}/v1/messages", body=body, key=key, timeout=120)
    seconds = time.perf_counter() - started
    if status != 200:
        raise BenchError(f"POST /v1/messages answered {status}: {answer}")
    return seconds, answer["count"]


# --- the stack -------------------------------------------------------------------------

#: dramatiq's Redis broker adds its id here on every command; before anything is
#: enqueued only consuming workers send commands, so this counts consumers.
HEARTBEATS_KEY = "dramatiq:__heartbeats__"


def wait_until_ready(stack: Stack, api: str, redis_url: str, consumers: int,
                     timeout: float, log_dir: Path) -> None:
    """The API answers /health and ``consumers`` dramatiq workers fetch from Redis.

    Call before anything is enqueued (see HEARTBEATS_KEY); independent of
    the stack's log level.
    """
    client = redis_lib.Redis.from_url(redis_url)
    try:
        for _ in deadline_loop(timeout, f"the stack to start (logs in {log_dir})"):
            dead = [n for n, p in stack.processes.items() if p.poll() is not None]
            if dead:
                raise BenchError(f"{', '.join(dead)} exited while starting (logs in {log_dir})")
            try:
                healthy = http_json("GET", f"{api}/health", timeout=2)[0] == 200
            except OSError:
                healthy = False
            if healthy and client.zcard(HEARTBEATS_KEY) >= consumers:
                return
    finally:
        client.close()


def topic_states(engine: Engine, key_id: int, topic: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT state, count(*) FROM messages "
                 "WHERE api_key_id = :k AND topic_id = :t GROUP BY state"),
            {"k": key_id, "t": topic},
        )
        return {r[0]: r[1] for r in rows}


def wait_until_done(engine: Engine, key_id: int, topic: str, total: int,
                    delivered: Callable[[], int], timeout: float, stall: float,
                    progress: bool = True) -> dict[str, int]:
    """Wait until all ``total`` rows of ``topic`` are final; fail on timeout or stall.

    Progress is read from the fake SES (``delivered``: deliveries so far),
    which costs the stack nothing; the database, whose count over the topic
    is not free, is asked only once every message was delivered, or when
    deliveries stop (failed rows are never delivered).
    """
    last, last_change = (-1, {}), time.monotonic()
    next_print = time.monotonic() + 5
    states: dict[str, int] = {}
    for _ in deadline_loop(timeout, f"{total} messages of topic {topic} to be sent", 0.5):
        count = delivered()
        quiet = time.monotonic() - last_change > DB_POLL_WHEN_QUIET
        if count >= total or quiet:
            states = topic_states(engine, key_id, topic)
            if sum(states.get(s, 0) for s in FINAL_STATES) >= total:
                return states
        if progress and time.monotonic() >= next_print:
            print(f"  {count:>6}/{total} delivered", flush=True)
            next_print += 5
        if (count, states) != last:
            last, last_change = (count, states), time.monotonic()
        elif time.monotonic() - last_change > stall:
            raise BenchError(f"no progress for {stall:.0f}s: {count} delivered, rows {states}")
    raise AssertionError("unreachable")


def pipeline_figures(engine: Engine, key_id: int, topic: str,
                     accepted_at: float | None = None) -> dict:
    """Throughput and latency of the topic's sent rows, all times from the database
    (from ``accepted_at``, when given, instead of the first row's creation)."""
    with engine.connect() as conn:
        row = conn.execute(
            text("""
                SELECT count(*) AS sent,
                       extract(epoch FROM min(created_at)) AS first_accept,
                       extract(epoch FROM max(created_at)) AS last_accept,
                       extract(epoch FROM min(sent_at)) AS first_sent,
                       extract(epoch FROM max(sent_at)) AS last_sent,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY lat) AS p50,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY lat) AS p99,
                       max(lat) AS max
                  FROM (SELECT created_at, sent_at,
                               extract(epoch FROM sent_at - created_at) AS lat
                          FROM messages
                         WHERE api_key_id = :k AND topic_id = :t AND sent_at IS NOT NULL) s
            """),
            {"k": key_id, "t": topic},
        ).one()
        per_second = conn.execute(
            text("""
                SELECT floor(extract(epoch FROM sent_at)) AS s, count(*) FROM messages
                 WHERE api_key_id = :k AND topic_id = :t AND sent_at IS NOT NULL
                 GROUP BY 1 ORDER BY 1
            """),
            {"k": key_id, "t": topic},
        ).all()
    if not row.sent:
        raise BenchError("no message was sent")
    first_accept = accepted_at if accepted_at is not None else float(row.first_accept)
    seconds = float(row.last_sent) - first_accept
    send_window = float(row.last_sent - row.first_sent)
    return {
        "sent": row.sent,
        "seconds": round(seconds, 3),
        "messages_per_s": round(row.sent / seconds, 1),
        "accept_window_s": round(float(row.last_accept - row.first_accept), 3),
        "send_window_s": round(send_window, 3),
        "send_window_messages_per_s": round(row.sent / send_window, 1) if send_window else None,
        "latency_p50_s": round(float(row.p50), 3),
        "latency_p99_s": round(float(row.p99), 3),
        "latency_max_s": round(float(row.max), 3),
        "sent_per_second": [int(r[1]) for r in per_second],
    }


# --- CPU accounting --------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_snapshot(sessions: dict[int, str], pids: dict[int, str],
                 parents: dict[int, str] | None = None) -> dict[str, float]:
    """CPU seconds so far of every live process on the machine, grouped by component.

    ``pids`` names single processes; ``sessions`` whole sessions: stack
    processes and the fake SES run in their own (the session id is the
    leader's pid), so gunicorn workers and sender processes count with them;
    ``parents`` a process and its direct children (PostgreSQL's postmaster
    and backends). Anything else is "not ours" (other work on the machine).
    """
    parents = parents or {}
    totals: dict[str, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, parent, session = int(entry.name), int(fields[1]), int(fields[3])
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        name = (pids.get(pid) or sessions.get(session) or parents.get(pid)
                or parents.get(parent) or NOT_OURS)
        totals[name] = totals.get(name, 0.0) + cpu
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs of the machine spent busy since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    names = sorted(set(before) | set(after), key=lambda n: -(after.get(n, 0) - before.get(n, 0)))
    return {n: round(after.get(n, 0.0) - before.get(n, 0.0), 2) for n in names}


# --- the bench -------------------------------------------------------------------------

def sample_raw_message() -> bytes:
    """A MIME message as the senders render it, for the ceiling's calls."""
    claimed = ClaimedMessage(id=1, attempt=1, from_addr=FROM, to_addr=f"someone@{PIPELINE_DOMAIN}",
                             subject=SUBJECT, html=HTML, text=None, reply_to=None)
    return render(claimed, now=datetime.now(UTC)).as_bytes()


def run(args: argparse.Namespace, work: Path, cleanup: contextlib.ExitStack) -> dict:
    log_dir = work / "logs"
    log_dir.mkdir(parents=True)
    report: dict = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "messages": args.messages, "per_request": args.per_request,
            "processes": args.processes, "threads": args.threads,
            "api_workers": args.api_workers, "send_batch": args.send_batch,
            "campaign_send_batch": args.campaign_send_batch,
            "fake_ses_latency_ms": args.latency_ms, "postgres_fsync": args.fsync,
            "log_level": args.log_level, "cpus": os.cpu_count(),
            "bulk": args.bulk, "tracking": args.tracking, "idle_gap": args.idle_gap,
            "html_kb": args.html_kb,
        },
        "log_dir": str(log_dir),
    }

    print("starting PostgreSQL, Redis and the fake SES", flush=True)
    postgres = start_postgres(work / "postgres", fsync=args.fsync)
    cleanup.callback(postgres.stop)
    redis_server = start_redis(work / "redis")
    cleanup.callback(redis_server.stop)
    fake = start_fake_ses(latency_ms=args.latency_ms, log=log_dir / "fake_ses.log")
    cleanup.callback(fake.stop)
    upgrade(postgres.url)
    engine = make_engine(postgres.url, pool_size=1)
    cleanup.callback(engine.dispose)
    with engine.begin() as conn:
        key, plain_key = create_key(conn, "bench", [])

    ceilings = [run_ceiling(fake, args, "before the stack starts")]
    report["fake_ses_ceiling_phase"] = _brief(fake.stats())
    fake.reset()

    api = f"http://127.0.0.1:{free_port()}"
    env = {
        "MAILPIPE_DATABASE_URL": postgres.url,
        "MAILPIPE_REDIS_URL": redis_server.url,
        "MAILPIPE_TRANSPORT": "ses",
        "MAILPIPE_SEND_RATE": str(args.send_rate),
        "MAILPIPE_SEND_BATCH": str(args.send_batch),
        "MAILPIPE_CAMPAIGN_SEND_BATCH": str(args.campaign_send_batch),
        "MAILPIPE_DEFAULT_FROM": FROM,
        "MAILPIPE_PUBLIC_URL": api,
        "MAILPIPE_LOG_LEVEL": args.log_level,
        "MAILPIPE_SES_BULK": "true" if args.bulk else "false",
        "AWS_ENDPOINT_URL_SESV2": fake.url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if args.tracking:
        env["MAILPIPE_SECRET_KEY"] = "bench-secret-key"
    if args.webhooks:
        env |= {"MAILPIPE_WEBHOOK_PRIVATE": "true", "MAILPIPE_WEBHOOK_ALLOW_HTTP": "true"}
    stack = Stack(env, log_dir=log_dir)
    cleanup.callback(stack.stop_all)
    print(f"starting the stack: api x{args.api_workers}, scheduler, recorder, "
          f"sender {args.processes}x{args.threads} (logs in {log_dir})", flush=True)
    stack.start("api", "api", "--bind", api.removeprefix("http://"),
                "--workers", str(args.api_workers))
    stack.start("scheduler", "scheduler")
    stack.start("recorder", "recorder")
    stack.start("sender", "sender", "--processes", str(args.processes),
                "--threads", str(args.threads))
    if args.webhooks:
        stack.start("webhooks", "webhooks", "--processes", "1", "--threads", "4")
    # Consumers: one broker per sender process, plus the recorder's (and the webhooks').
    wait_until_ready(stack, api, redis_server.url, args.processes + 1 + args.webhooks,
                     timeout=90, log_dir=log_dir)

    run_id = uuid.uuid4().hex[:8]
    warmup = [f"w{run_id}-{i}@{WARMUP_DOMAIN}" for i in range(args.warmup)]
    if warmup:
        print(f"warm-up: {len(warmup)} messages", flush=True)
        post_messages(api, plain_key, f"warmup-{run_id}", warmup)
        wait_until_done(engine, key.id, f"warmup-{run_id}", len(warmup),
                        lambda: fake.stats()["by_domain"].get(WARMUP_DOMAIN, 0),
                        timeout=120, stall=60, progress=False)

    sessions = {p.pid: name for name, p in stack.processes.items()}
    sessions[fake.process.pid] = "fake_ses"
    pids = {os.getpid(): "bench (client, poller)"}
    if redis_server.process:
        pids[redis_server.process.pid] = "redis"
    postmaster = work / "postgres" / "postmaster.pid"
    parents = {int(postmaster.read_text().split()[0]): "postgres"}
    if args.webhooks:
        report["webhooks"] = compare_webhooks(
            args, api, plain_key, engine, key.id, fake, run_id, stack,
            lambda: cpu_snapshot(sessions, pids, parents))
    redis_client = redis_lib.Redis.from_url(redis_server.url)
    redis_client.config_resetstat()
    cpu_before, machine_before = cpu_snapshot(sessions, pids, parents), machine_busy_seconds()
    wall_started = time.monotonic()

    topic = f"bench-{run_id}"
    recipients = [f"p{run_id}-{i:06d}@{PIPELINE_DOMAIN}" for i in range(args.messages)]
    accepts, accepted_at = [], None
    if args.bulk:
        print(f"posting a campaign of {args.messages} recipients", flush=True)
        seconds, count = post_campaign(api, plain_key, topic, recipients,
                                       newsletter(args.html_kb))
        accepted_at = time.time()  # the clock starts once the upload is answered
        accepts.append({"recipients": len(recipients), "accepted": count,
                        "seconds": round(seconds, 3)})
        print(f"  campaign of {len(recipients)} recipients: answered in {seconds:.3f} s",
              flush=True)
    else:
        print(f"posting {args.messages} messages in requests of {args.per_request}",
              flush=True)
    for start in range(0, len(recipients) if not args.bulk else 0, args.per_request):
        chunk = recipients[start : start + args.per_request]
        seconds, count = post_messages(api, plain_key, topic, chunk, newsletter(args.html_kb))
        accepts.append({"recipients": len(chunk), "accepted": count,
                        "seconds": round(seconds, 3)})
        print(f"  POST of {len(chunk)} recipients: answered in {seconds:.3f} s", flush=True)
    states = wait_until_done(engine, key.id, topic, args.messages,
                             lambda: fake.stats()["by_domain"].get(PIPELINE_DOMAIN, 0),
                             timeout=args.timeout, stall=args.stall)
    wall = time.monotonic() - wall_started
    cpu_after, machine_after = cpu_snapshot(sessions, pids, parents), machine_busy_seconds()
    redis_calls = {name.removeprefix("cmdstat_"): stat["calls"]
                   for name, stat in redis_client.info("commandstats").items()}
    redis_client.close()

    pipeline = pipeline_figures(engine, key.id, topic, accepted_at)
    stats = fake.stats()
    report["idle"] = measure_idle(api, plain_key, fake, run_id, args.idle, args.idle_gap)
    # Again on a machine without the stack: the better of the two is the
    # ceiling, so a burst of other work during one of them matters less.
    stack.stop_all()
    ceilings.append(run_ceiling(fake, args, "after the stack stopped"))
    ceiling = max(ceilings, key=lambda c: c["calls_per_s"])
    report["ceiling"] = ceiling
    report["ceiling_runs"] = ceilings
    report["wire_ceiling"] = run_ceiling(fake, args, "through mailpipe's wire", client="wire")
    # The accept target is for POSTs of 10,000 (a campaign's upload is timed, not judged).
    full = ([] if args.bulk else
            [a["seconds"] for a in accepts if a["recipients"] >= min(10_000, args.per_request)])
    report["accept"] = {
        "requests": accepts,
        "max_full_request_s": max(full) if full else None,
        "target_s": ACCEPT_TARGET_S,
        "ok": args.bulk or (bool(full) and max(full) < ACCEPT_TARGET_S),
    }
    report["pipeline"] = {"states": states, "wall_s": round(wall, 3), **pipeline}
    report["fake_ses"] = {**_brief(stats),
                          "pipeline_deliveries": stats["by_domain"].get(PIPELINE_DOMAIN, 0)}
    cpu = cpu_delta(cpu_before, cpu_after)
    cpu.pop(NOT_OURS, None)  # processes come and go: measured below instead
    report["cpu_seconds"] = cpu
    report["cpu_ms_per_message"] = {n: round(1000 * c / args.messages, 2) for n, c in cpu.items()}
    report["cpu_us_per_message"] = {n: round(1e6 * c / args.messages) for n, c in cpu.items()}
    report["redis_calls_per_message"] = {
        name: round(calls / args.messages, 3)
        for name, calls in sorted(redis_calls.items(), key=lambda kv: -kv[1])
        if name not in ("config|resetstat", "info")}
    report["cpu_busy_fraction"] = _busy(sum(cpu.values()), machine_after - machine_before, wall)
    report["ceiling_calls_per_s"] = ceiling["calls_per_s"]
    report["ratio"] = round(pipeline["messages_per_s"] / ceiling["calls_per_s"], 3)
    report["wire_ratio"] = round(
        pipeline["messages_per_s"] / report["wire_ceiling"]["calls_per_s"], 3)
    report["ratio_target"] = BULK_RATIO_TARGET if args.bulk else RATIO_TARGET
    report["ok"] = (report["ratio"] >= report["ratio_target"] and report["accept"]["ok"]
                    and stats["duplicates"] == 0 and states.get("sent", 0) == args.messages
                    and report["fake_ses"]["pipeline_deliveries"] == args.messages
                    and report.get("webhooks", {}).get("ok", True))
    return report


#: The modes of a webhooks round, in order: no endpoint; an endpoint, its deliveries
#: written with every send but delivered after the round (the webhooks process stopped:
#: what the send path itself carries); an endpoint delivered to during the round (on
#: this machine the webhooks process and the receiver share its CPUs with the senders).
WEBHOOK_MODES = ("off", "outbox", "delivering")
#: Components whose CPU is sending's (the webhooks process and the receiver are not).
SENDING = ("api", "scheduler", "sender", "recorder", "postgres", "redis")


def compare_webhooks(args: argparse.Namespace, api: str, key: str, engine: Engine,
                     key_id: int, fake: FakeSesProcess, run_id: str, stack: Stack,
                     cpu: Callable[[], dict[str, float]]) -> dict:
    """Send rates and CPU per message in each of ``WEBHOOK_MODES``, in alternating rounds."""
    receiver = WebhookReceiver()
    rounds = []
    try:
        status, endpoint = http_json("POST", f"{api}/v1/webhooks", key=key, body=json.dumps(
            {"url": receiver.url, "enabled": False}).encode())
        if status != 201:
            raise BenchError(f"POST /v1/webhooks answered {status}: {endpoint}")
        for n in range(args.webhook_rounds * len(WEBHOOK_MODES)):
            mode = WEBHOOK_MODES[n % len(WEBHOOK_MODES)]
            _enable(api, key, endpoint["id"], mode != "off")
            if mode == "outbox":
                stack.signal("webhooks", signal.SIGSTOP)
            before = cpu()
            figures = _webhook_round(args, api, key, engine, key_id, fake, f"wh{n}-{run_id}")
            used = cpu_delta(before, cpu())
            stack.signal("webhooks", signal.SIGCONT)
            _wait_for_deliveries(engine, args.timeout)
            rounds.append({"mode": mode, **figures, "cpu_us_per_message": {
                name: round(1e6 * seconds / args.webhook_messages)
                for name, seconds in sorted(used.items()) if name != NOT_OURS}})
            print(f"  round {n + 1}, webhooks {mode}: {figures['messages_per_s']} messages/s, "
                  f"sending {_sending_us(rounds[-1])} us CPU per message", flush=True)
        _enable(api, key, endpoint["id"], False)
    finally:
        receiver.close()
    by_mode = {mode: [r for r in rounds if r["mode"] == mode] for mode in WEBHOOK_MODES}
    rate = {mode: statistics.median(r["messages_per_s"] for r in rs)
            for mode, rs in by_mode.items()}
    sending_cpu = {mode: statistics.median(_sending_us(r) for r in rs)
                   for mode, rs in by_mode.items()}
    # Each round against the "off" round just before it: the machine's load drifts.
    paired = {mode: statistics.median(r["messages_per_s"] / off["messages_per_s"]
                                      for off, r in zip(by_mode["off"], rs, strict=True))
              for mode, rs in by_mode.items() if mode != "off"}
    slowdown = {mode: round(1 - ratio, 3) for mode, ratio in paired.items()}
    return {
        "rounds": rounds, "messages_per_s": rate, "sending_cpu_us_per_message": sending_cpu,
        "slowdown": slowdown,
        "sending_cpu_increase": {mode: round(sending_cpu[mode] / sending_cpu["off"] - 1, 3)
                                 for mode in paired},
        "target": WEBHOOK_SLOWDOWN_TARGET, "received": len(receiver.received),
        "expected": args.webhook_messages * args.webhook_rounds * 2,
        "ok": (slowdown["outbox"] < WEBHOOK_SLOWDOWN_TARGET
               and len(receiver.received) >= args.webhook_messages * args.webhook_rounds * 2),
    }


def _sending_us(round_: dict) -> int:
    return sum(us for name, us in round_["cpu_us_per_message"].items() if name in SENDING)


def _enable(api: str, key: str, endpoint_id: int, enabled: bool) -> None:
    status, answer = http_json("PATCH", f"{api}/v1/webhooks/{endpoint_id}", key=key,
                               body=json.dumps({"enabled": enabled}).encode())
    if status != 200:
        raise BenchError(f"PATCH /v1/webhooks answered {status}: {answer}")


def _webhook_round(args: argparse.Namespace, api: str, key: str, engine: Engine, key_id: int,
                   fake: FakeSesProcess, topic: str) -> dict:
    """One round: ``--webhook-messages`` POSTed and timed until all are sent."""
    domain = f"{topic}.bench.example"
    recipients = [f"p{i:06d}@{domain}" for i in range(args.webhook_messages)]
    for start in range(0, len(recipients), args.per_request):
        post_messages(api, key, topic, recipients[start : start + args.per_request])
    wait_until_done(engine, key_id, topic, len(recipients),
                    lambda: fake.stats()["by_domain"].get(domain, 0),
                    timeout=args.timeout, stall=args.stall, progress=False)
    figures = pipeline_figures(engine, key_id, topic)
    return {"messages_per_s": figures["messages_per_s"], "seconds": figures["seconds"]}


def _wait_for_deliveries(engine: Engine, timeout: float) -> None:
    for _ in deadline_loop(timeout, "the round's webhook deliveries"):
        with engine.connect() as conn:
            due = conn.execute(text("SELECT count(*) FROM webhook_deliveries"
                                    " WHERE state IN ('pending', 'delivering')")).scalar_one()
        if not due:
            return


def measure_idle(api: str, key: str, fake: FakeSesProcess, run_id: str, count: int,
                 gap: float) -> dict:
    """POST → at SES of single messages sent into an idle fleet, ``gap`` seconds apart."""
    seconds = []
    for i in range(count):
        address = f"i{run_id}-{i}@{IDLE_DOMAIN}"
        time.sleep(gap)  # idle: nothing in flight, consumers waiting
        began = time.time()
        post_messages(api, key, f"idle-{run_id}", [address])
        for _ in deadline_loop(10, f"{address} to reach the fake SES", 0.002):
            arrived = fake.arrivals().get(address)
            if arrived is not None:
                seconds.append(arrived - began)
                break
    seconds.sort()
    if not seconds:
        return {"count": 0}
    return {"count": len(seconds), "p50_s": round(seconds[len(seconds) // 2], 4),
            "p95_s": round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))], 4),
            "max_s": round(seconds[-1], 4), "target_p50_s": IDLE_TARGET_P50_S}


def run_ceiling(fake: FakeSesProcess, args: argparse.Namespace, when: str,
                client: str = "boto3") -> dict:
    """bench/ceiling.py against ``fake``, with a check of how busy the machine was."""
    print(f"ceiling ({when}): {args.ceiling_calls} raw send_email calls, "
          f"{args.processes} processes x {args.threads} threads", flush=True)
    # Over the whole call: the ceiling's processes (start-up included, they
    # are our children) and the fake SES, against the whole machine.
    fake_session = {fake.process.pid: "fake_ses"}
    fake_before, machine_before = cpu_snapshot(fake_session, {}), machine_busy_seconds()
    children_before, began = _children_cpu(), time.monotonic()
    ceiling = measure_ceiling(fake.url, args.processes, args.threads, args.ceiling_calls,
                              raw=sample_raw_message(), timeout=args.timeout, client=client)
    fake_cpu = cpu_delta(fake_before, cpu_snapshot(fake_session, {})).get("fake_ses", 0.0)
    ours = _children_cpu() - children_before + fake_cpu
    return {
        "when": when,
        **asdict(ceiling),
        "fake_ses_cpu_s": fake_cpu,
        "client_cpu_ms_per_call": round(1000 * ceiling.client_cpu_s / ceiling.calls, 2),
        "cpu_busy_fraction": _busy(ours, machine_busy_seconds() - machine_before,
                                   time.monotonic() - began),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _busy(ours: float, machine: float, seconds: float) -> dict[str, float]:
    """Shares of the machine's CPU capacity over ``seconds``: this bench's, other work's."""
    capacity = seconds * (os.cpu_count() or 1)
    return {"bench": round(ours / capacity, 3),
            "not_ours": round(max(0.0, machine - ours) / capacity, 3)}


def _brief(stats: dict) -> dict:
    keep = ("latency_ms", "requests", "sent", "throttled", "bad_requests", "max_in_flight",
            "mean_body_bytes", "unique_recipients", "duplicates", "duplicate_examples")
    return {k: stats[k] for k in keep}


def print_report(report: dict) -> None:
    config, ceiling, pipeline = report["config"], report["ceiling"], report["pipeline"]
    accept, busy = report["accept"], report["cpu_busy_fraction"]
    mark = {True: "ok", False: "MISSED"}
    lines = [
        "",
        "mailpipe pipeline bench",
        f"  mode             {'bulk (SendBulkEmail)' if config['bulk'] else 'per message'}, "
        f"tracking {'on' if config['tracking'] else 'off'}"
        + (f", HTML +{config['html_kb']} KiB" if config.get("html_kb") else ""),
        f"  machine          {config['cpus']} CPUs; fake SES latency "
        f"{config['fake_ses_latency_ms']:g} ms; PostgreSQL fsync "
        f"{'on' if config['postgres_fsync'] else 'off'}; log level {config['log_level']}",
        f"  senders          {config['processes']} processes x {config['threads']} threads, "
        f"batch {config['send_batch']} (campaigns {config['campaign_send_batch']}); "
        f"api {config['api_workers']} workers",
        "",
        "  accept           " + ", ".join(f"{a['recipients']} rcpt in {a['seconds']:.3f} s"
                                           for a in accept["requests"])
        + f"  (target < {accept['target_s']:g} s: {mark[accept['ok']]})",
        f"  pipeline         {pipeline['sent']} sent in {pipeline['seconds']:.2f} s "
        f"(first accept -> last sent) = {pipeline['messages_per_s']:.1f} messages/s",
        f"  latency          accept->sent p50 {pipeline['latency_p50_s']:.2f} s, "
        f"p99 {pipeline['latency_p99_s']:.2f} s, max {pipeline['latency_max_s']:.2f} s",
        f"  states           {pipeline['states']}",
        f"  fake SES         {report['fake_ses']['pipeline_deliveries']} deliveries to pipeline "
        f"recipients, duplicates {report['fake_ses']['duplicates']}, "
        f"max in flight {report['fake_ses']['max_in_flight']}",
        f"  ceiling          {ceiling['calls_per_s']:.1f} send_email calls/s "
        f"({ceiling['calls']} calls, {ceiling['processes']}x{ceiling['threads']}, "
        f"p50 {ceiling['p50_ms']:.1f} ms, errors {ceiling['errors']}; machine busy: "
        f"{ceiling['cpu_busy_fraction']['bench']:.0%} this bench, "
        f"{ceiling['cpu_busy_fraction']['not_ours']:.0%} other work)",
        "  ceiling runs     " + ", ".join(f"{c['calls_per_s']:.1f}/s {c['when']}"
                                          for c in report["ceiling_runs"])
        + " (the better one counts)",
        f"  ratio            {report['ratio']:.1%} of the ceiling "
        f"(target >= {report['ratio_target']:.0%}: "
        f"{mark[report['ratio'] >= report['ratio_target']]})",
        f"  wire ceiling     {report['wire_ceiling']['calls_per_s']:.1f} calls/s through "
        f"mailpipe's own SES wire (client {report['wire_ceiling']['client_cpu_ms_per_call']:.2f}"
        f" ms per call): the pipeline reaches {report['wire_ratio']:.1%} of it",
        f"  idle             POST -> at SES p50 {report['idle'].get('p50_s', 0) * 1000:.0f} ms, "
        f"p95 {report['idle'].get('p95_s', 0) * 1000:.0f} ms ({report['idle']['count']} "
        f"single messages {config['idle_gap']:g} s apart; target p50 <= "
        f"{IDLE_TARGET_P50_S * 1000:.0f} ms)",
        "  CPU us/message   " + ", ".join(f"{n} {u}" for n, u in
                                           report["cpu_us_per_message"].items() if u >= 1),
        "  CPU seconds      " + ", ".join(f"{n} {s:.1f}" for n, s in
                                           report["cpu_seconds"].items() if s >= 0.05)
        + f"  (machine busy: {busy['bench']:.0%} this bench, "
          f"{busy['not_ours']:.0%} other work)",
        f"  CPU per message  sender {report['cpu_ms_per_message'].get('sender', 0):.2f} ms "
        f"(ceiling client: {ceiling['client_cpu_ms_per_call']:.2f} ms per call), postgres "
        f"{report['cpu_ms_per_message'].get('postgres', 0):.2f} ms, recorder "
        f"{report['cpu_ms_per_message'].get('recorder', 0):.2f} ms",
        "  Redis calls/msg  " + ", ".join(f"{n} {c:g}" for n, c in
                                           list(report["redis_calls_per_message"].items())[:8]),
        *_webhook_lines(report.get("webhooks"), mark),
        "",
        f"  overall          {'OK' if report['ok'] else 'NOT OK'}",
    ]
    noise = max(busy["not_ours"], ceiling["cpu_busy_fraction"]["not_ours"])  # the one used
    if noise > NOISE_WARNING:
        lines.append(f"  warning          other work used up to {noise:.0%} of the machine "
                     "during the measurements: these figures are not reliable")
    print("\n".join(lines), flush=True)


def _webhook_lines(webhooks: dict | None, mark: dict[bool, str]) -> list[str]:
    if webhooks is None:
        return []
    rate, cpu, slowdown = (webhooks["messages_per_s"], webhooks["sending_cpu_us_per_message"],
                           webhooks["slowdown"])
    return [
        "  webhooks         " + ", ".join(f"{r['mode']} {r['messages_per_s']:.0f}/s"
                                          for r in webhooks["rounds"]) + " (rounds in order)",
        "                   median " + ", ".join(
            f"{mode} {rate[mode]:.1f} messages/s, sending CPU {cpu[mode]} us/message"
            for mode in WEBHOOK_MODES),
        f"                   slowdown against the round without (median of pairs): outbox "
        f"{slowdown['outbox']:.1%} (target < {webhooks['target']:.0%}: "
        f"{mark[slowdown['outbox'] < webhooks['target']]}), delivering "
        f"{slowdown['delivering']:.1%}; sending CPU +"
        f"{webhooks['sending_cpu_increase']['outbox']:.1%} / "
        f"+{webhooks['sending_cpu_increase']['delivering']:.1%}; "
        f"{webhooks['received']} of {webhooks['expected']} events received",
    ]


def _print_log_tails(log_dir: Path, lines: int = 15) -> None:
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {log.name} (last {len(tail)} lines)", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)


def default(setting: str):
    """mailpipe's own default of a setting: the bench runs what users run unless told."""
    return Settings.model_fields[setting].default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None,
                        help="messages to send (default 20,000; 100,000 with --bulk)")
    parser.add_argument("--per-request", type=int, default=10_000,
                        help="recipients per POST (the API allows 10,000)")
    parser.add_argument("--processes", type=int, default=2, help="sender processes (P)")
    parser.add_argument("--threads", type=int, default=16, help="threads per sender process (T)")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--send-batch", type=int, default=default("send_batch"),
                        help="MAILPIPE_SEND_BATCH (default: mailpipe's)")
    parser.add_argument("--campaign-send-batch", type=int,
                        default=default("campaign_send_batch"),
                        help="MAILPIPE_CAMPAIGN_SEND_BATCH, for --bulk's campaign "
                             "(default: mailpipe's)")
    parser.add_argument("--send-rate", type=float, default=1_000_000,
                        help="MAILPIPE_SEND_RATE: high, so the limiter never waits")
    parser.add_argument("--latency-ms", type=float, default=20.0,
                        help="fake SES round trip (SES itself: ~20-50 ms)")
    parser.add_argument("--ceiling-calls", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured messages first")
    parser.add_argument("--fsync", action="store_true", help="PostgreSQL with fsync on")
    parser.add_argument("--log-level", default="INFO", help="MAILPIPE_LOG_LEVEL of the stack")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="bound on the wait for all messages to be sent (s)")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="give up when no message became final for this long (s)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--no-tracking", dest="tracking", action="store_false",
                        help="MAILPIPE_SECRET_KEY unset: no tracked links, no pixel")
    parser.add_argument("--html-kb", type=int, default=0,
                        help="KiB of plain text added to the measured messages' HTML "
                             "(a long newsletter; the ceiling's message stays as it is)")
    parser.add_argument("--bulk", action="store_true",
                        help="send through SES SendBulkEmail (MAILPIPE_SES_BULK=true)")
    parser.add_argument("--idle", type=int, default=40,
                        help="single messages timed into the idle fleet at the end")
    parser.add_argument("--idle-gap", type=float, default=2.0,
                        help="seconds of idle before each of them (s)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (data and logs)")
    parser.add_argument("--webhooks", action="store_true",
                        help="also compare sending without and with a webhook endpoint")
    parser.add_argument("--webhook-rounds", type=int, default=5,
                        help="rounds of (no endpoint, outbox only, delivering)")
    parser.add_argument("--webhook-messages", type=int, default=3000,
                        help="messages sent in each of those rounds")
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = 100_000 if args.bulk else 20_000
    if args.webhooks and not args.tracking:
        parser.error("--webhooks needs MAILPIPE_SECRET_KEY, which --no-tracking leaves out")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the cleanup below still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="mailpipe-bench-"))
    failed = True
    try:
        with contextlib.ExitStack() as cleanup:
            report = run(args, work, cleanup)
            print("stopping", flush=True)
        failed = False
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        _print_log_tails(work / "logs")
        return 1
    finally:
        if args.keep or (failed and (work / "logs").exists()):
            print(f"data and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"  report written to {args.json}")
    return 0 if report["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())
