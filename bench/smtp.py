"""SMTP submission bench: messages/s ``mailpipe smtp`` accepts, its CPU per message, and
what it costs REST intake running beside it.

Starts PostgreSQL and Redis in a scratch folder, then ``mailpipe api`` and ``mailpipe
smtp`` as an operator runs them (``services.up.Stack``; no senders: this measures
intake, every accepted message stays queued), and ``--rounds`` times, each phase for
``--seconds`` (interleaved, so the machine's other work weighs on each alike):

1. the ceiling: a bare aiosmtpd server (its own process, the same certificate,
   AUTH taking any password, DATA answered 250 and dropped) under the same load;
2. REST alone: ``--rest-threads`` threads POSTing one message each (the same
   20 KB, one recipient) to /v1/messages over kept-alive connections;
3. SMTP alone: ``--connections`` client processes, each one implicit-TLS
   connection authenticated once with an API key, sending ``--kb`` KB messages
   (a unique Message-ID each) back to back; the smtp process's CPU (and in
   step 2 the api's, its workers included) from /proc/<pid>/stat;
4. both at once.

Reported per round and as medians: SMTP messages/s and its ratio to the ceiling, CPU µs
per message of the smtp process (and of the api per REST message), REST messages/s alone
and beside SMTP and their ratio. Target: every message answered 250/200
is a stored row, and no client error.

    .venv/bin/python bench/smtp.py [--rounds 4] [--seconds 8] [--connections 8] [--kb 20]
                                   [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import smtplib
import ssl
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from common import BenchError, deadline_loop, run_in_scratch
from pipeline import cpu_delta, cpu_snapshot
from sqlalchemy import text

from services.up import Stack
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.runtime.certificate import kept_self_signed
from shared.runtime.localservers import free_port, start_postgres, start_redis

FROM = "bench@bench.example"


def message_bytes(kb: int) -> bytes:
    """A plain message of about ``kb`` KB whose Message-ID is ``{id}`` (filled per send)."""
    line = "A line of a realistic notification, long enough to wrap at 76.\r\n"
    body = line * (kb * 1024 // len(line))
    return (f"From: Bench <{FROM}>\r\nTo: someone@bench.example\r\nSubject: bench\r\n"
            "Message-ID: <{id}@bench.example>\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"\r\n{body}").encode()


# --- the SMTP load ----------------------------------------------------------------------

def _smtp_client(port: int, cafile: str, key: str, template: bytes, start: float,
                 seconds: float, results) -> None:
    """One connection: AUTH once, then messages back to back until the window closes."""
    context = ssl.create_default_context(cafile=cafile)
    sent = errors = 0
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=60) as client:
        client.login("apikey", key)
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < start + seconds:
            data = template.replace(b"{id}", uuid.uuid4().hex.encode())
            try:
                client.sendmail(FROM, [f"r{sent}@bench.example"], data)
                sent += 1
            except smtplib.SMTPException:
                errors += 1
    results.put((sent, errors))


def smtp_load(port: int, cafile: Path, key: str, template: bytes, connections: int,
              seconds: float, start: float) -> dict:
    """``connections`` processes sending for ``seconds`` from ``start`` (unix time)."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    workers = [ctx.Process(target=_smtp_client, args=(port, str(cafile), key, template, start,
                                                      seconds, results))
               for _ in range(connections)]
    for worker in workers:
        worker.start()
    totals = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(30)
    sent, errors = sum(t[0] for t in totals), sum(t[1] for t in totals)
    return {"messages": sent, "errors": errors, "per_s": round(sent / seconds, 1)}


# --- the REST load ----------------------------------------------------------------------

def rest_load(port: int, key: str, html: str, threads: int, seconds: float,
              start: float) -> dict:
    """``threads`` threads POSTing one-message requests for ``seconds`` from ``start``."""
    counts: list[tuple[int, int]] = []
    lock = threading.Lock()
    body = json.dumps({"messages": [{"topicId": "bench-rest", "emails": ["r@bench.example"],
                                     "subject": "bench", "content": html}]}).encode()
    headers = {"content-type": "application/json", "x-api-key": key}

    def post() -> None:
        accepted = errors = 0
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < start + seconds:
            connection.request("POST", "/v1/messages", body, headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status == 200:
                accepted += 1
            else:
                errors += 1
        connection.close()
        with lock:
            counts.append((accepted, errors))

    running = [threading.Thread(target=post) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    accepted = sum(c[0] for c in counts)
    return {"messages": accepted, "errors": sum(c[1] for c in counts),
            "per_s": round(accepted / seconds, 1)}


# --- the bare ceiling -------------------------------------------------------------------

def serve_bare(port: int, cert: str, key: str) -> None:
    """aiosmtpd with nothing behind it: implicit TLS, any AUTH, DATA dropped (``--bare``)."""
    from aiosmtpd.smtp import SMTP, AuthResult

    class Drop:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's
            return "250 2.0.0 Ok"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(Drop(), auth_required=True, auth_require_tls=False,
                         authenticator=lambda *a: AuthResult(success=True),
                         data_size_limit=None),
            "127.0.0.1", port, ssl=context)
        await server.serve_forever()

    asyncio.run(main())


# --- the run ----------------------------------------------------------------------------

def _wait_listening(port: int, what: str) -> None:
    import socket

    for _ in deadline_loop(60, what):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass


def run(args: argparse.Namespace, work: Path) -> dict:
    pg = start_postgres(work / "pg", fsync=False)
    redis = start_redis(work / "redis")
    stack = bare = None
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=1)
        with engine.begin() as conn:
            _, key = create_key(conn, "bench", [])
        cert, cert_key = kept_self_signed(work)
        api_port, smtp_port, tls_port, bare_port = (free_port() for _ in range(4))
        stack = Stack({
            "MAILPIPE_DATABASE_URL": pg.url, "MAILPIPE_REDIS_URL": redis.url,
            "MAILPIPE_TRANSPORT": "file", "MAILPIPE_FILE_DIR": str(work / "outbox"),
            "MAILPIPE_DEFAULT_FROM": FROM, "MAILPIPE_INTAKE_RATE": "100000",
            "MAILPIPE_INTAKE_BURST": "100000", "MAILPIPE_SMTP_CERT_FILE": str(cert),
            "MAILPIPE_SMTP_KEY_FILE": str(cert_key), "MAILPIPE_LOG_LEVEL": "WARNING",
            "MAILPIPE_METRICS_PORT_SMTP": "0",  # no fixed port: another run may hold it
        }, log_dir=work / "logs")
        stack.start("api", "api", "--bind", f"127.0.0.1:{api_port}",
                    "--workers", str(args.api_workers))
        stack.start("smtp", "smtp", "--bind", f"127.0.0.1:{smtp_port}",
                    "--tls-bind", f"127.0.0.1:{tls_port}")
        # aiosmtpd warns on every AUTH (its login_data) and of AUTH without STARTTLS
        # (this listener is implicit TLS): not the bench's news.
        bare = subprocess.Popen([sys.executable, __file__, "--bare", str(bare_port), str(cert),
                                 str(cert_key)], env={**os.environ, "PYTHONWARNINGS": "ignore"})
        for port, what in ((api_port, "the api"), (tls_port, "mailpipe smtp"),
                           (bare_port, "the bare aiosmtpd")):
            _wait_listening(port, what)
        template = message_bytes(args.kb)
        html = "<p>" + template.split(b"\r\n\r\n", 1)[1].decode() + "</p>"
        # Each Stack process leads its own session: gunicorn's workers count with the api.
        sessions = {stack.processes[name].pid: name for name in ("smtp", "api")}

        def phase(rest: bool, smtp_port: int | None) -> dict:
            """One window: REST and/or SMTP load (to ``smtp_port``) starting together."""
            began, out = time.time() + 1.5, {}
            threads = []
            if rest:
                threads.append(threading.Thread(target=lambda: out.update(rest=rest_load(
                    api_port, key, html, args.rest_threads, args.seconds, began))))
            if smtp_port:
                threads.append(threading.Thread(target=lambda: out.update(smtp=smtp_load(
                    smtp_port, cert, key, template, args.connections, args.seconds, began))))
            cpu = cpu_snapshot(sessions, {})
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            out["cpu"] = cpu_delta(cpu, cpu_snapshot(sessions, {}))
            return out

        warm = smtp_load(tls_port, cert, key, template, args.connections, 2, time.time() + 1)
        rounds = []
        # Interleaved, so what else the machine does weighs on every phase alike.
        for n in range(args.rounds):
            ceiling = phase(False, bare_port)["smtp"]
            rest_alone = phase(True, None)
            smtp_alone = phase(False, tls_port)
            both = phase(True, tls_port)
            rounds.append({
                "ceiling_per_s": ceiling["per_s"], "smtp_per_s": smtp_alone["smtp"]["per_s"],
                "smtp_ratio_to_ceiling": round(smtp_alone["smtp"]["per_s"] / ceiling["per_s"], 2),
                "smtp_cpu_us_per_message": round(1e6 * smtp_alone["cpu"]["smtp"]
                                                 / max(1, smtp_alone["smtp"]["messages"])),
                "rest_per_s": rest_alone["rest"]["per_s"],
                "api_cpu_us_per_rest_message": round(1e6 * rest_alone["cpu"]["api"]
                                                     / max(1, rest_alone["rest"]["messages"])),
                "rest_beside_smtp_per_s": both["rest"]["per_s"],
                "smtp_beside_rest_per_s": both["smtp"]["per_s"],
                "rest_ratio_beside_smtp": round(both["rest"]["per_s"]
                                                / max(0.1, rest_alone["rest"]["per_s"]), 2),
                "load_average_1m": round(os.getloadavg()[0], 1),
                "_counts": [ceiling, rest_alone["rest"], smtp_alone["smtp"], both["rest"],
                            both["smtp"]],
            })
            print(f"round {n + 1}: " + json.dumps({k: v for k, v in rounds[-1].items()
                                                   if not k.startswith("_")}), flush=True)
        with engine.connect() as conn:
            stored = dict(conn.execute(text(
                "SELECT source, count(*) FROM messages GROUP BY source")).all())
        engine.dispose()
        counts = [c for r in rounds for c in r.pop("_counts")]
        # counts per round: ceiling, REST alone, SMTP alone, REST beside, SMTP beside
        answered = {"smtp": warm["messages"] + sum(c["messages"] for i, c in enumerate(counts)
                                                   if i % 5 in (2, 4)),
                    "api": sum(c["messages"] for i, c in enumerate(counts) if i % 5 in (1, 3))}
        errors = warm["errors"] + sum(c["errors"] for c in counts)

        def median(name: str) -> float:
            return statistics.median(r[name] for r in rounds)

        return {
            "config": {"seconds": args.seconds, "rounds": args.rounds,
                       "connections": args.connections, "kb": args.kb,
                       "rest_threads": args.rest_threads, "api_workers": args.api_workers,
                       "cpus": os.cpu_count()},
            "median": {name: median(name) for name in rounds[0]},
            "rounds": rounds,
            "stored_by_source": stored, "answered": answered, "client_errors": errors,
            # Every answered message is a stored row (the warm-up's too), nothing refused.
            "target_met": errors == 0 and stored.get("api") == answered["api"]
            and stored.get("smtp") == answered["smtp"],
        }
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(10)
        if stack is not None:
            stack.stop_all()
        redis.stop()
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--bare"]:
        serve_bare(int(argv[1]), argv[2], argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="each window")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--kb", type=int, default=20)
    parser.add_argument("--rest-threads", type=int, default=8)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        return run_in_scratch(lambda work: run(args, work), "smtp", args.json)
    except BenchError as exc:
        print(f"bench/smtp.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
