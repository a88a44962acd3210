"""Chaos run: nothing sent twice, nothing lost, while processes and servers die.

Starts its own PostgreSQL and Redis, a fake SES that counts deliveries per
recipient (``bench/fake_ses.py``) and the four mailpipe processes exactly as
an operator runs them (``services.up.Stack``). A producer POSTs ``--messages``
messages to unique recipients (each request with an ``Idempotency-Key``, and
retried until answered, as a careful client does) while the harness

- SIGKILLs, at random moments, whole sender, recorder, scheduler and API
  process groups (like a container being killed), single sender, recorder
  and gunicorn children (their own supervisors replace those), and sender
  and recorder supervisors alone (their children must stop by themselves),
- restarts every dead process within about a second (``Stack.restart_dead``,
  the job of systemd or docker in production),
- flushes Redis once (FLUSHALL, or ``--redis-fault restart``: stopped and
  started again empty on the same port),
- restarts PostgreSQL once (stopped, down a few seconds, started again).

Then it waits until every row is final and reports: messages delivered
exactly once, duplicates (must be 0), lost (must be 0: every accepted message
ends sent, failed or unknown), ``unknown`` (each must have been in flight,
``sending``, at one of the faults) and the time to drain.

With webhooks (on by default here, ``--no-webhooks`` to leave them out), the
key has an endpoint on a local receiver (``WebhookReceiver``: it verifies each
delivery's signature with the ``standardwebhooks`` library) and a ``mailpipe
webhooks`` process delivers to it; the harness also SIGKILLs that process and
one of its children, and takes the receiver down (503) for a few seconds.
After the drain, every event delivered, it checks each message's outbound
events against what is recorded of it (``webhook_problems``): ``message.sent``
once for a row sent, ``message.failed`` once for a row failed,
``message.unknown`` once for a row unknown and before the ``sent`` or
``failed`` of a row that was unknown first (only for rows a fault caught
mid-send); every outbox row received at least once, signed, with its own type
and message; nothing received that is not in the outbox.

    .venv/bin/python bench/chaos.py [--messages 10000] [--json chaos.json]

``run_chaos`` is the harness itself; tests/e2e/test_chaos.py runs a short form.

A second phase, the slow fleet (``run_slow_fleet``, ``--phase slow-fleet``),
kills nothing: a rate shared by many threads with a short lease (20/s over
9 threads, MAILPIPE_SEND_LEASE=3), one request of 60 recipients finding the
fleet idle, then eight of 20, and ``mailpipe requeue --state unknown`` in
the middle, as the scheduler's warning advises. It reports duplicates, rows
ever seen ``unknown`` and the live claims the lease sweep took (the
scheduler's "mid-send when their lease ran out" warnings): all must be 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from services.up import Stack
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.runtime.localservers import free_port, start_postgres, start_redis

TOPIC = "chaos"
FROM = "chaos@chaos.example"
DOMAIN = "chaos.example"
#: States a message may end in here; anything else after the drain is lost.
FINAL = ("sent", "failed", "unknown", "delivered", "bounced", "complained")
#: Kinds of SIGKILL, one of each per round.
KILLS = ("sender", "sender-child", "sender-parent", "recorder", "recorder-child",
         "recorder-parent", "scheduler", "api", "api-worker")
#: With webhooks: their process and one of its children killed, the receiver down a while.
WEBHOOK_FAULTS = ("webhooks", "webhooks-child", "receiver-down")
#: The outbound events a message of this run may have, by its final state, in order
#: (an ``unknown`` first only for a row a fault caught mid-send).
WEBHOOK_HISTORIES = {
    "sent": (["message.sent"], ["message.unknown", "message.sent"]),
    "failed": (["message.failed"], ["message.unknown", "message.failed"]),
    "unknown": (["message.unknown"],),
}


@dataclass
class ChaosConfig:
    messages: int = 10_000
    per_request: int = 50
    #: Fleet-wide send rate (recipients/s); moderate, so kills hit in-flight sends.
    send_rate: float = 100.0
    #: Messages POSTed per second; below the send rate so the backlog stays short.
    post_rate: float = 90.0
    sender_processes: int = 2
    sender_threads: int = 4
    api_workers: int = 2
    #: Each round SIGKILLs one process of every kind in ``KILLS``.
    kill_rounds: int = 2
    #: Redis faults, each once: "flush" (FLUSHALL), "restart" (stopped, started again empty).
    redis_faults: tuple[str, ...] = ("flush",)
    postgres_restart: bool = True
    postgres_down_seconds: float = 3.0
    queue_timeout: float = 10.0
    send_lease: float = 20.0
    #: MAILPIPE_SEND_BATCH: message ids per sender queue message, on average.
    send_batch: int = 20
    heartbeat_ms: int = 5000
    drain_timeout: float = 300.0
    seed: int | None = None
    #: An endpoint on a local receiver, a webhooks process, and their faults.
    webhooks: bool = False
    #: Seconds the receiver answers 503 (below the first retry's 5 s, so one retry does).
    receiver_down_seconds: float = 3.0


@dataclass
class Fault:
    at: float
    kind: str
    pids: list[int] = field(default_factory=list)
    #: Rows ``sending`` just after the fault (just before and after, for PostgreSQL).
    in_flight: int = 0
    note: str = ""


class ChaosError(RuntimeError):
    """Raised when the run cannot be completed (a wait timed out, a server failed)."""


# --- processes -------------------------------------------------------------------------

def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def group_pids(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children_of(current)
    return pids


# --- HTTP ------------------------------------------------------------------------------

def _post(url: str, key: str, body: dict, idempotency_key: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("x-api-key", key)
    request.add_header("Idempotency-Key", idempotency_key)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode(errors="replace")
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw[:500]}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as answer:
            return answer.status == 200
    except (OSError, ValueError):
        return False


class Producer(threading.Thread):
    """POSTs the messages at ``post_rate``, retrying each request until it is answered.

    Every request carries its own Idempotency-Key, so a retry after a lost
    answer (the API killed mid-request) creates nothing twice.
    """

    def __init__(self, api: str, key: str, config: ChaosConfig) -> None:
        super().__init__(name="producer", daemon=True)
        self.api, self.key, self.config = api, key, config
        self.accepted: dict[int, str] = {}
        self.retries = Counter()
        self.refused: list[str] = []
        self.started_at = self.finished_at = 0.0
        self.stop = False

    def run(self) -> None:
        cfg = self.config
        self.started_at = time.monotonic()
        for start in range(0, cfg.messages, cfg.per_request):
            if self.stop:
                break
            recipients = [f"r{n}@{DOMAIN}" for n in range(start, min(start + cfg.per_request,
                                                                      cfg.messages))]
            self._post_until_answered(recipients, str(uuid.uuid4()))
            pause = self.started_at + (start + len(recipients)) / cfg.post_rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        self.finished_at = time.monotonic()

    def _post_until_answered(self, recipients: list[str], idempotency_key: str) -> None:
        body = {"messages": [{"topicId": TOPIC, "emails": recipients, "subject": "chaos",
                              "content": "<p>Hello from the chaos run</p>"}]}
        deadline = time.monotonic() + 180
        while not self.stop and time.monotonic() < deadline:
            try:
                status, answer = _post(self.api + "/v1/messages", self.key, body,
                                       idempotency_key)
            except (OSError, ValueError) as exc:  # refused, reset, timed out: try again
                self.retries[type(exc).__name__] += 1
                time.sleep(0.3)
                continue
            if status == 200:
                for message in answer["messages"]:
                    self.accepted[message["id"]] = message["email"]
                return
            self.retries[str(status)] += 1
            if status == 429:  # over the key's intake budget: as told, later
                time.sleep(1.0)
                continue
            if status < 500:
                self.refused.append(f"{status} {answer}")
                return
            time.sleep(0.3)
        self.refused.append(f"gave up on {len(recipients)} recipients after 180 s")


class WebhookReceiver:
    """A producer's webhook endpoint on 127.0.0.1: records every delivery it gets (its
    ``webhook-id``, type and message id, and whether its signature verified with
    ``secret``, when one is given) and answers 204, or 503 while it is down
    (``go_down``: from the next delivery on, for a while)."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.down = False
        self.down_for = 0.0
        self.received: list[tuple[str, str, int | None, bool]] = []
        self.refused = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(receiver.take(dict(self.headers.items()), body))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def go_down(self, seconds: float) -> None:
        """Answer 503 for ``seconds`` from the next delivery on (so that one is refused)."""
        self.down_for = seconds

    def take(self, headers: dict[str, str], body: bytes) -> int:
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            if self.down_for:
                self.down, seconds, self.down_for = True, self.down_for, 0.0
                timer = threading.Timer(seconds, lambda: setattr(self, "down", False))
                timer.daemon = True
                timer.start()
            if self.down:
                self.refused += 1
                return 503
        event = json.loads(body)
        with self._lock:
            self.received.append((headers.get("webhook-id", ""), event.get("type"),
                                  (event.get("data") or {}).get("messageId"),
                                  self._verified(headers, body)))
        return 204

    def _verified(self, headers: dict[str, str], body: bytes) -> bool:
        if self.secret is None:
            return True
        from standardwebhooks import Webhook, WebhookVerificationError

        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- database views --------------------------------------------------------------------

def _query(engine: Engine, sql: str, attempts: int = 20) -> list:
    """A read that waits out a PostgreSQL restart."""
    for attempt in range(attempts):
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).all()
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def sending_ids(engine: Engine) -> set[int]:
    return {r[0] for r in _query(engine, "SELECT id FROM messages WHERE state = 'sending'")}


def state_counts(engine: Engine) -> dict[str, int]:
    return dict(_query(engine, "SELECT state, count(*) FROM messages GROUP BY 1"))


# --- the run ---------------------------------------------------------------------------

class Chaos:
    """The servers, the stack and the faults of one run."""

    def __init__(self, config: ChaosConfig, work: Path, ses_url: str) -> None:
        self.config, self.work = config, work
        self.rng = random.Random(config.seed)
        self.log_dir = work / "logs"
        self.postgres = start_postgres(work / "pg", fsync=False)
        self.redis_dirs = 0
        self.redis = start_redis(work / "redis-0")
        upgrade(self.postgres.url)
        self.engine = make_engine(self.postgres.url, pool_size=2)
        with self.engine.begin() as conn:
            _, self.key = create_key(conn, "chaos", [])
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.stack = Stack(self._env(ses_url), log_dir=self.log_dir)
        self.faults: list[Fault] = []
        self.in_flight: set[int] = set()
        self.restarts: Counter[str] = Counter()
        self.receiver = WebhookReceiver() if config.webhooks else None
        self.t0 = time.monotonic()

    def _env(self, ses_url: str) -> dict[str, str]:
        cfg = self.config
        return {
            "MAILPIPE_DATABASE_URL": self.postgres.url,
            "MAILPIPE_REDIS_URL": self.redis.url,
            "MAILPIPE_TRANSPORT": "ses",
            "MAILPIPE_SEND_RATE": str(cfg.send_rate),
            "MAILPIPE_DEFAULT_FROM": FROM,
            "MAILPIPE_PUBLIC_URL": self.api,
            "MAILPIPE_QUEUE_TIMEOUT": str(cfg.queue_timeout),
            "MAILPIPE_SEND_LEASE": str(cfg.send_lease),
            "MAILPIPE_SEND_BATCH": str(cfg.send_batch),
            "MAILPIPE_BROKER_HEARTBEAT_TIMEOUT_MS": str(cfg.heartbeat_ms),
            "MAILPIPE_LOG_LEVEL": "INFO",
            "AWS_ENDPOINT_URL_SESV2": ses_url,
            "AWS_ACCESS_KEY_ID": "chaos",
            "AWS_SECRET_ACCESS_KEY": "chaos",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            **({"MAILPIPE_SECRET_KEY": "chaos-secret-key", "MAILPIPE_WEBHOOK_PRIVATE": "true",
                "MAILPIPE_WEBHOOK_ALLOW_HTTP": "true", "MAILPIPE_WEBHOOK_TIMEOUT": "3",
                # A killed worker's claims are due again soon: the drain does not wait long.
                "MAILPIPE_WEBHOOK_LEASE": "5"} if cfg.webhooks else {}),
        }

    def start_stack(self, timeout: float = 60.0) -> None:
        cfg = self.config
        self.stack.start("api", "api", "--bind", f"127.0.0.1:{self.api_port}",
                         "--workers", str(cfg.api_workers))
        self.stack.start("scheduler", "scheduler")
        self.stack.start("sender", "sender", "--processes", str(cfg.sender_processes),
                         "--threads", str(cfg.sender_threads))
        self.stack.start("recorder", "recorder")
        if self.receiver:
            self.stack.start("webhooks", "webhooks", "--processes", "2", "--threads", "2")
        deadline = time.monotonic() + timeout
        while not _healthy(self.api):
            if time.monotonic() > deadline:
                raise ChaosError(f"the API did not answer /health in {timeout:.0f}s "
                                 f"(logs in {self.log_dir})")
            time.sleep(0.2)
        if self.receiver:
            self.receiver.secret = self._add_endpoint()

    def _add_endpoint(self) -> str:
        """The key's endpoint, every event type, on the receiver; its signing secret."""
        request = urllib.request.Request(
            self.api + "/v1/webhooks", data=json.dumps({"url": self.receiver.url}).encode(),
            method="POST", headers={"content-type": "application/json", "x-api-key": self.key})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)["secret"]

    def supervise(self) -> None:
        """What systemd or docker would do: start again whatever died."""
        for name in self.stack.restart_dead():
            self.restarts[name] += 1

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stack.stop_all(timeout=30)
        self.engine.dispose()
        self.redis.stop()
        self.postgres.stop()
        if self.receiver:
            self.receiver.close()

    # faults

    def schedule(self, duration: float) -> list[tuple[float, str]]:
        """Every fault at a random moment of the producer's ``duration``."""
        kinds = list(KILLS) * self.config.kill_rounds
        kinds += [f"redis-{fault}" for fault in self.config.redis_faults]
        if self.config.postgres_restart:
            kinds.append("postgres")
        if self.config.webhooks:
            kinds += WEBHOOK_FAULTS
        self.rng.shuffle(kinds)
        times = sorted(self.rng.uniform(0.1, 0.9) * duration for _ in kinds)
        return list(zip(times, kinds, strict=True))

    def inflict(self, kind: str) -> Fault:
        fault = Fault(round(time.monotonic() - self.t0, 2), kind)
        before: set[int] = set()
        if kind in ("sender", "recorder", "scheduler", "api", "webhooks"):
            fault.pids = group_pids(self.stack.processes[kind].pid)
            self.stack.signal(kind, signal.SIGKILL)
        elif kind.endswith("-parent"):
            # The supervisor alone, as `kill -9 <pid>` does: its children must
            # notice, hand back what they hold and stop.
            fault.pids = [self.stack.processes[kind.split("-")[0]].pid]
            os.kill(fault.pids[0], signal.SIGKILL)
        elif kind.endswith(("-child", "-worker")):
            parent = self.stack.processes[kind.split("-")[0]].pid
            children = children_of(parent)
            if not children:
                fault.note = "no child yet"
                return fault
            victim = self.rng.choice(children)
            fault.pids = group_pids(victim)
            os.kill(victim, signal.SIGKILL)
        elif kind.startswith("redis-"):
            fault.note = self._redis_fault(kind.removeprefix("redis-"))
        elif kind == "receiver-down":
            fault.note = self._receiver_down()
        elif kind == "postgres":
            before = sending_ids(self.engine)
            self._stop_postgres()
            time.sleep(self.config.postgres_down_seconds)
            self.postgres = start_postgres(self.work / "pg", self.postgres.port, fsync=False)
        # Whatever the fault cut off is `sending` now and stays so until its
        # lease runs out: these are the rows that may rightly end `unknown`.
        after = sending_ids(self.engine)
        fault.in_flight = len(before | after)
        self.in_flight |= before | after
        self.faults.append(fault)
        return fault

    def _receiver_down(self) -> str:
        self.receiver.go_down(self.config.receiver_down_seconds)
        return f"answering 503 for {self.config.receiver_down_seconds:g} s from the next one"

    def _stop_postgres(self) -> None:
        import subprocess

        done = subprocess.run(self.postgres.stop_command, capture_output=True, timeout=60)
        if done.returncode:
            raise ChaosError(f"pg_ctl stop failed ({done.returncode}): "
                             f"{done.stdout.decode()} {done.stderr.decode()}")

    def _redis_fault(self, how: str) -> str:
        import redis

        if how == "flush":
            client = redis.Redis.from_url(self.redis.url)
            try:
                client.flushall()
            finally:
                client.close()
            return "FLUSHALL"
        self.redis.stop()
        self.redis_dirs += 1
        self.redis = start_redis(self.work / f"redis-{self.redis_dirs}", self.redis.port,
                                 password=self.redis.password)
        return "stopped and started again empty"


def run_chaos(config: ChaosConfig, work: Path, ses_url: str,
              ses_stats: Callable[[], dict], progress: Callable[[str], None] = print) -> dict:
    """One chaos run; returns the report (see ``print_report``). Stops all it started."""
    chaos = Chaos(config, work, ses_url)
    producer = None
    try:
        chaos.start_stack()
        producer = Producer(chaos.api, chaos.key, config)
        plan = chaos.schedule(config.messages / config.post_rate)
        producer.start()
        started = chaos.t0 = time.monotonic()
        next_report = started + 10
        while producer.is_alive() or plan:
            chaos.supervise()
            now = time.monotonic() - started
            if plan and plan[0][0] <= now:
                _, kind = plan.pop(0)
                fault = chaos.inflict(kind)
                if fault.note == "no child yet":  # its parent was just restarted: later
                    plan = sorted([*plan, (now + 2.0, kind)])
                progress(f"  {now:6.1f}s  {kind:<15} {fault.note or f'pids {fault.pids}'}  "
                         f"({fault.in_flight} rows sending)")
            if time.monotonic() >= next_report:
                progress(f"  {now:6.1f}s  accepted {len(producer.accepted)}  "
                         f"{state_counts(chaos.engine)}")
                next_report += 10
            time.sleep(0.25)
        posted = time.monotonic()
        states = _drain(chaos, config.drain_timeout, progress)
        if chaos.receiver:
            _drain_deliveries(chaos, config.drain_timeout, progress)
        drained = time.monotonic()
        return _report(config, chaos, producer, states, ses_stats(),
                       posting=posted - started, drain=drained - posted)
    finally:
        if producer is not None:
            producer.stop = True
        chaos.stop()


def _drain(chaos: Chaos, timeout: float, progress: Callable[[str], None]) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + 10
    while True:
        chaos.supervise()
        states = state_counts(chaos.engine)
        if all(state in FINAL for state in states):
            return states
        if time.monotonic() > deadline:
            progress(f"  drain timed out after {timeout:.0f}s: {states}")
            return states
        if time.monotonic() >= next_report:
            progress(f"  draining: {states}")
            next_report += 10
        time.sleep(0.5)


def _drain_deliveries(chaos: Chaos, timeout: float, progress: Callable[[str], None]) -> None:
    """Until no delivery is pending or being delivered (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        chaos.supervise()
        [(due,)] = _query(chaos.engine, "SELECT count(*) FROM webhook_deliveries"
                                        " WHERE state IN ('pending', 'delivering')")
        if not due:
            return
        if time.monotonic() > deadline:
            progress(f"  deliveries' drain timed out after {timeout:.0f}s: {due} due")
            return
        time.sleep(0.5)


def webhook_report(chaos: Chaos, rows: dict[int, str]) -> dict:
    """Each message's outbound events against its recorded state (``WEBHOOK_HISTORIES``),
    and the receiver's deliveries against the outbox."""
    histories: dict[int | None, list[str]] = {}
    outbox = {}
    for event_id, type_, message_id in _query(
            chaos.engine, "SELECT id, type, message_id FROM webhook_events ORDER BY id"):
        histories.setdefault(message_id, []).append(type_)
        outbox[f"evt_{event_id}"] = (type_, message_id)
    wrong, unknown_not_in_flight = {}, 0
    for message_id, state in rows.items():
        history = histories.pop(message_id, [])
        if history not in WEBHOOK_HISTORIES.get(state, ()):
            wrong[message_id] = f"{state}: {history}"
        if "message.unknown" in history and message_id not in chaos.in_flight:
            unknown_not_in_flight += 1
    received = chaos.receiver.received
    got = {webhook_id for webhook_id, _, _, _ in received}
    deliveries = dict(_query(chaos.engine,
                             "SELECT state, count(*) FROM webhook_deliveries GROUP BY 1"))
    return {
        "events": len(outbox),
        "deliveries": deliveries,
        "messages_not_matching_their_history": len(wrong),
        "not_matching_examples": dict(list(wrong.items())[:10]),
        "events_of_no_message": sum(len(h) for h in histories.values()),
        "unknown_events_not_in_flight_at_a_fault": unknown_not_in_flight,
        "received": len(received),
        "received_twice": len(received) - len(got),
        "not_received": len(set(outbox) - got),
        "received_not_in_outbox": len(got - set(outbox)),
        "received_not_as_written": sum(1 for webhook_id, type_, message_id, _ in received
                                       if outbox.get(webhook_id, (type_, message_id))
                                       != (type_, message_id)),
        "unverified": sum(1 for *_, verified in received if not verified),
        "refused_while_down": chaos.receiver.refused,
    }


def _report(config: ChaosConfig, chaos: Chaos, producer: Producer, states: dict[str, int],
            ses: dict, *, posting: float, drain: float) -> dict:
    rows = dict(_query(chaos.engine, "SELECT id, state FROM messages"))
    unknown = {i for i, s in rows.items() if s == "unknown"}
    missing = [i for i in producer.accepted if i not in rows]
    not_final = [i for i, s in rows.items() if s not in FINAL]
    sent = sum(n for s, n in states.items() if s in ("sent", "delivered", "bounced",
                                                       "complained"))
    duplicates = ses["duplicates"]
    return {
        "config": asdict(config),
        "accepted": len(producer.accepted),
        "rows": len(rows),
        "states": states,
        "ses": {k: ses[k] for k in ("requests", "sent", "throttled", "unique_recipients",
                                    "duplicates", "duplicate_examples")},
        # Each recipient is unique, so without duplicates every delivery is a first one.
        "delivered_exactly_once": ses["unique_recipients"] if not duplicates else None,
        "duplicates": duplicates,
        "lost": len(missing) + len(not_final),
        "lost_examples": (missing + not_final)[:10],
        "unknown": len(unknown),
        "in_flight_at_faults": len(chaos.in_flight),
        "unknown_not_in_flight_at_a_fault": len(unknown - chaos.in_flight),
        # SES took it but the outcome was cut off: these are the `unknown` that went out.
        "unknown_delivered": ses["unique_recipients"] - sent,
        "faults": [asdict(f) for f in chaos.faults],
        "restarts": dict(chaos.restarts),
        "exits_not_caused_by_a_kill": _exits_not_caused_by_a_kill(chaos),
        "producer_retries": dict(producer.retries),
        "producer_refused": producer.refused[:10],
        "posting_s": round(posting, 1),
        "drain_s": round(drain, 1),
        "log_dir": str(chaos.log_dir),
        "webhooks": webhook_report(chaos, rows) if chaos.receiver else None,
    }


def _exits_not_caused_by_a_kill(chaos: Chaos) -> list[str]:
    """Processes that died on their own (a crash, a crash loop): must be none.

    The harness restarted a process only after killing its group or its
    supervisor; more restarts than that, or a supervised child that exited
    other than by SIGKILL, is a process that did not survive a fault.
    """
    killed = Counter(f.kind.split("-")[0] for f in chaos.faults
                     if "-" not in f.kind or f.kind.endswith("-parent"))
    found = [f"{name}: restarted {n} times, killed {killed[name]}"
             for name, n in chaos.restarts.items() if n > killed[name]]
    for log in sorted(chaos.log_dir.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if ("exited with" in line and "exited with -9" not in line
                    and "SIGKILL" not in line):
                found.append(f"{log.name}: {line[:300]}")
    return found


def verdict(report: dict) -> list[str]:
    """What the run proves wrong; empty when it passed."""
    problems = []
    if report["duplicates"]:
        problems.append(f"{report['duplicates']} deliveries were duplicates")
    if report["lost"]:
        problems.append(f"{report['lost']} accepted messages never reached a final state")
    if report["unknown_not_in_flight_at_a_fault"]:
        problems.append(f"{report['unknown_not_in_flight_at_a_fault']} messages ended unknown "
                        "without being in flight at any fault")
    if report["exits_not_caused_by_a_kill"]:
        problems.append(f"processes exited on their own: {report['exits_not_caused_by_a_kill']}")
    if report["producer_refused"]:
        problems.append(f"requests refused: {report['producer_refused']}")
    if report["accepted"] != report["config"]["messages"]:
        problems.append(f"only {report['accepted']} of {report['config']['messages']} "
                        "messages were accepted")
    return problems + webhook_problems(report["webhooks"])


def webhook_problems(webhooks: dict | None) -> list[str]:
    """What the webhooks part of a run proves wrong (nothing when it had none)."""
    if webhooks is None:
        return []
    said = {
        "messages_not_matching_their_history": "messages' webhook events differ from "
                                                "their recorded history",
        "events_of_no_message": "webhook events name no message of the run",
        "unknown_events_not_in_flight_at_a_fault": "message.unknown events for rows no "
                                                   "fault caught mid-send",
        "not_received": "webhook events were never received",
        "received_not_in_outbox": "deliveries received that are in no outbox row",
        "received_not_as_written": "deliveries received with another type or message "
                                   "than their outbox row",
        "unverified": "deliveries whose signature did not verify",
    }
    problems = [f"{webhooks[name]} {text}" for name, text in said.items() if webhooks[name]]
    if not webhooks["refused_while_down"]:
        problems.append("the receiver was taken down but refused no delivery")
    if set(webhooks["deliveries"]) - {"delivered"}:
        problems.append(f"deliveries not delivered: {webhooks['deliveries']}")
    return problems


def print_report(report: dict) -> None:
    print(f"""
chaos run: {report['accepted']} messages accepted, {len(report['faults'])} faults
  delivered exactly once   {report['delivered_exactly_once']}
  duplicates               {report['duplicates']}
  lost                     {report['lost']}
  unknown                  {report['unknown']}  (in flight at the faults: \
{report['in_flight_at_faults']}; of the unknown, SES took {report['unknown_delivered']})
  final states             {report['states']}
  posting / drain          {report['posting_s']} s / {report['drain_s']} s
  restarts by harness      {report['restarts']}  (exits not caused by a kill: \
{len(report['exits_not_caused_by_a_kill'])})
  producer retries         {report['producer_retries']}
  logs                     {report['log_dir']}""")
    for fault in report["faults"]:
        print(f"    {fault['at']:7.1f}s {fault['kind']:<15} in flight {fault['in_flight']:>4}  "
              f"{fault['note'] or fault['pids']}")
    webhooks = report["webhooks"]
    if webhooks:
        print(f"""  webhook events           {webhooks['events']}  \
(deliveries {webhooks['deliveries']})
  not matching history     {webhooks['messages_not_matching_their_history']}  \
{webhooks['not_matching_examples'] or ''}
  received                 {webhooks['received']}  (twice: {webhooks['received_twice']}; \
never: {webhooks['not_received']}; not in the outbox: {webhooks['received_not_in_outbox']}; \
unverified: {webhooks['unverified']}; refused while down: {webhooks['refused_while_down']})""")
    problems = verdict(report)
    print("\nPASS" if not problems else "\nFAIL: " + "; ".join(problems))


# --- the slow fleet ----------------------------------------------------------------------

@dataclass
class SlowFleetConfig:
    send_rate: float = 20.0
    sender_threads: int = 9
    send_lease: float = 3.0
    #: The first request's recipients (one queue message), then ``later`` requests of ``each``.
    first: int = 60
    later: int = 8
    each: int = 20
    later_after: float = 0.5
    #: When (s) ``mailpipe requeue --state unknown`` runs, as the scheduler's warning advises.
    requeue_at: float = 6.0
    drain_timeout: float = 120.0


#: The scheduler's warning for every batch of claims the lease sweep took.
SWEPT = re.compile(r"(\d+) messages were mid-send when their lease ran out")


def run_slow_fleet(config: SlowFleetConfig, work: Path, ses_url: str,
                   ses_stats: Callable[[], dict], progress: Callable[[str], None] = print
                   ) -> dict:
    """The slow-fleet phase (see the module's docstring); returns its report."""
    work.mkdir(parents=True, exist_ok=True)
    chaos = Chaos(ChaosConfig(
        send_rate=config.send_rate, sender_processes=1, sender_threads=config.sender_threads,
        send_lease=config.send_lease, send_batch=config.first, api_workers=1,
        queue_timeout=30), work, ses_url)
    unknown_ever: set[int] = set()
    requeued = None
    try:
        chaos.start_stack()
        started = time.monotonic()
        requests = [(0.0, [f"first{n}@{DOMAIN}" for n in range(config.first)])] + [
            (config.later_after, [f"later{k}-{n}@{DOMAIN}" for n in range(config.each)])
            for k in range(config.later)]
        for at, recipients in requests:
            time.sleep(max(0.0, started + at - time.monotonic()))
            body = {"messages": [{"topicId": TOPIC, "emails": recipients, "subject": "slow",
                                  "content": "<p>Hello from the slow fleet</p>"}]}
            status, answer = _post(chaos.api + "/v1/messages", chaos.key, body,
                                   str(uuid.uuid4()))
            if status != 200:
                raise ChaosError(f"POST answered {status}: {answer}")
        total = config.first + config.later * config.each
        deadline = time.monotonic() + config.drain_timeout
        while True:
            unknown_ever |= {r[0] for r in _query(
                chaos.engine, "SELECT id FROM messages WHERE state = 'unknown'")}
            if requeued is None and time.monotonic() - started >= config.requeue_at:
                at = time.monotonic() - started
                requeued = _requeue_unknown(chaos)
                progress(f"  {at:5.1f}s  mailpipe requeue --state unknown: {requeued} rows")
            states = state_counts(chaos.engine)
            if (requeued is not None and sum(states.values()) == total
                    and all(state in FINAL for state in states)):
                break
            if time.monotonic() > deadline:
                progress(f"  slow fleet: drain timed out: {states}")
                break
            time.sleep(0.1)
        seconds = time.monotonic() - started
    finally:
        chaos.stop()
    swept = sum(int(m.group(1)) for log in chaos.log_dir.glob("scheduler*.log")
                for m in SWEPT.finditer(log.read_text(errors="replace")))
    ses = ses_stats()
    return {"config": asdict(config), "messages": total, "states": states,
            "duplicates": ses["duplicates"], "delivered": ses["unique_recipients"],
            "unknown_ever": len(unknown_ever), "swept_live_claims": swept,
            "requeued_unknown": requeued, "seconds": round(seconds, 1),
            "log_dir": str(chaos.log_dir)}


def _requeue_unknown(chaos: Chaos) -> int:
    """``mailpipe requeue --state unknown``, as an operator runs it."""
    done = subprocess.run([sys.executable, "-m", "services.cli", "requeue", "--state",
                           "unknown"], env=chaos.stack.env, capture_output=True, text=True,
                          timeout=60, check=False)
    found = re.search(r"requeued (\d+)", done.stdout + done.stderr)
    if done.returncode != 0:
        raise ChaosError(f"requeue failed ({done.returncode}): {done.stdout}{done.stderr}")
    return int(found.group(1)) if found else 0


def slow_fleet_verdict(report: dict) -> list[str]:
    problems = [f"{report[k]} {k.replace('_', ' ')}" for k in
                ("duplicates", "unknown_ever", "swept_live_claims") if report[k]]
    if report["delivered"] != report["messages"]:
        problems.append(f"{report['delivered']} of {report['messages']} delivered")
    return problems


def print_slow_fleet(report: dict) -> None:
    cfg = report["config"]
    problems = slow_fleet_verdict(report)
    print(f"\nslow fleet: {report['messages']} messages at {cfg['send_rate']:g}/s over "
          f"{cfg['sender_threads']} threads, lease {cfg['send_lease']:g} s")
    print(f"""\
  delivered                {report['delivered']}
  duplicates               {report['duplicates']}
  rows ever unknown        {report['unknown_ever']}
  live claims swept        {report['swept_live_claims']}
  requeue --state unknown  {report['requeued_unknown']} rows
  final states             {report['states']}
  time                     {report['seconds']} s
  logs                     {report['log_dir']}""")
    print("\nPASS" if not problems else "\nFAIL: " + "; ".join(problems))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=defaults.messages)
    parser.add_argument("--send-rate", type=float, default=defaults.send_rate)
    parser.add_argument("--post-rate", type=float, default=defaults.post_rate)
    parser.add_argument("--processes", type=int, default=defaults.sender_processes)
    parser.add_argument("--threads", type=int, default=defaults.sender_threads)
    parser.add_argument("--kill-rounds", type=int, default=defaults.kill_rounds,
                        help="rounds of one SIGKILL of each kind (default %(default)s)")
    parser.add_argument("--redis-fault", choices=["flush", "restart"], action="append",
                        help="flush (FLUSHALL) or restart (stopped, started again empty); "
                             "repeat for both (default: flush)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="fake SES round trip")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-webhooks", dest="webhooks", action="store_false",
                        help="no webhook endpoint, receiver or webhooks process")
    parser.add_argument("--phase", choices=["all", "chaos", "slow-fleet"], default="all",
                        help="the chaos run, the slow fleet, or both (default)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    defaults = ChaosConfig()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fake_ses import start_fake_ses

    config = ChaosConfig(messages=args.messages, send_rate=args.send_rate,
                         post_rate=args.post_rate, sender_processes=args.processes,
                         sender_threads=args.threads, kill_rounds=args.kill_rounds,
                         redis_faults=tuple(args.redis_fault or defaults.redis_faults),
                         seed=args.seed, webhooks=args.webhooks)
    work = Path(tempfile.mkdtemp(prefix="mailpipe-chaos-"))
    print(f"chaos: work folder {work}", flush=True)
    report, slow, failed = None, None, False
    with start_fake_ses(latency_ms=args.latency_ms, log=work / "fake_ses.log") as ses:
        if args.phase in ("all", "chaos"):
            (work / "chaos").mkdir()
            report = run_chaos(config, work / "chaos", ses.url, ses.stats,
                               progress=lambda line: print(line, flush=True))
            failed = bool(verdict(report))
        if args.phase in ("all", "slow-fleet"):
            ses.reset()
            print("slow fleet:", flush=True)
            slow = run_slow_fleet(SlowFleetConfig(), work / "slow-fleet", ses.url, ses.stats,
                                  progress=lambda line: print(line, flush=True))
            failed = failed or bool(slow_fleet_verdict(slow))
    if not args.keep and not failed:
        shutil.rmtree(work, ignore_errors=True)
    if report is not None:
        print_report(report)
    if slow is not None:
        print_slow_fleet(slow)
    if args.json:
        args.json.write_text(json.dumps({"chaos": report, "slow_fleet": slow}, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
