"""The ceiling: raw boto3 ``sesv2.send_email`` calls/s with P processes x T threads.

(``client="wire"``: the same calls through mailpipe's own
shared.transports.ses_wire instead, what its senders send with: how close
the pipeline comes to its own transport.)

What mailpipe's senders could at best achieve against an endpoint with the
same concurrency and nothing else to do: no database, no queue, no
rendering, no rate limiter. Each process has its own boto3 client with a
connection pool of at least T; every thread sends one warm-up call (to open
its connection) before the clock starts, and all processes start together.

Standalone::

    python bench/ceiling.py --endpoint http://127.0.0.1:9000 --processes 2 --threads 8
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
import time
import uuid
from dataclasses import asdict, dataclass

#: Same addressing as the pipeline bench, in their own domain so the fake
#: SES tells them apart.
CEILING_DOMAIN = "ceiling.bench.example"
FROM = "bench@bench.example"
DEFAULT_RAW = (b"From: bench@bench.example\r\nTo: someone@bench.example\r\n"
               b"Subject: ceiling\r\nContent-Type: text/plain\r\n\r\nHello\r\n")


@dataclass(frozen=True)
class CeilingResult:
    processes: int
    threads: int
    calls: int
    errors: int
    seconds: float
    calls_per_s: float
    mean_ms: float
    p50_ms: float
    p99_ms: float
    #: CPU seconds the client processes used while measuring
    client_cpu_s: float


def _client(endpoint: str, threads: int):
    import boto3
    from botocore.config import Config

    config = Config(
        # total_max_attempts=1: really no retry ("max_attempts" counts retries).
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=max(threads, 10),
    )
    return boto3.session.Session().client(
        "sesv2", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bench", aws_secret_access_key="bench", config=config,
    )


def _process(index: int, endpoint: str, threads: int, calls: int, raw: bytes,
             run: str, start_barrier, results, kind: str = "boto3") -> None:
    """One process: T threads sharing one client, ``calls`` sends in all."""
    client = _client(endpoint, threads)
    wire = None
    if kind == "wire":
        from shared.transports.ses_wire import SesWire

        wire = SesWire.for_client(client)
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    per_thread = [calls // threads + (1 if t < calls % threads else 0) for t in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads

    def send(address: str) -> None:
        request = {"FromEmailAddress": FROM, "Destination": {"ToAddresses": [address]},
                   "Content": {"Raw": {"Data": raw}}}
        if wire is not None:
            wire.call("SendEmail", request, lambda: None)
        else:
            client.send_email(**request)

    def work(t: int) -> None:
        send(f"w{run}-{index}-{t}@{CEILING_DOMAIN}")
        ready.wait()
        go.wait()
        for i in range(per_thread[t]):
            began = time.perf_counter()
            try:
                send(f"c{run}-{index}-{t}-{i}@{CEILING_DOMAIN}")
            except Exception:  # noqa: BLE001 - counted, reported
                errors[t] += 1
            latencies[t].append(time.perf_counter() - began)

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait(timeout=60)
    start_barrier.wait(timeout=60)
    started = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
    cpu = time.process_time()
    go.set()
    for worker in workers:
        worker.join()
    ended = time.monotonic()
    results.put((started, ended, [x for lat in latencies for x in lat], sum(errors),
                 time.process_time() - cpu))


def measure_ceiling(endpoint: str, processes: int, threads: int, calls: int,
                    raw: bytes = DEFAULT_RAW, timeout: float = 300.0,
                    client: str = "boto3") -> CeilingResult:
    """Run ``calls`` send_email calls split over ``processes`` x ``threads``
    (through boto3, or mailpipe's wire: ``client="wire"``)."""
    ctx = multiprocessing.get_context("spawn")
    run = uuid.uuid4().hex[:8]  # unique addresses, run after run
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    shares = [calls // processes + (1 if p < calls % processes else 0) for p in range(processes)]
    children = [
        ctx.Process(target=_process, daemon=True,
                    args=(p, endpoint, threads, shares[p], raw, run, barrier, results, client))
        for p in range(processes)
    ]
    for child in children:
        child.start()
    try:
        collected = [results.get(timeout=timeout) for _ in children]
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
    started = min(r[0] for r in collected)
    ended = max(r[1] for r in collected)
    latencies = sorted(x for r in collected for x in r[2])
    errors = sum(r[3] for r in collected)
    seconds = ended - started
    return CeilingResult(
        processes=processes,
        threads=threads,
        calls=len(latencies),
        errors=errors,
        seconds=round(seconds, 3),
        calls_per_s=round((len(latencies) - errors) / seconds, 1),
        mean_ms=round(1000 * sum(latencies) / len(latencies), 2),
        p50_ms=round(1000 * latencies[len(latencies) // 2], 2),
        p99_ms=round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        client_cpu_s=round(sum(r[4] for r in collected), 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:9000")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--client", choices=["boto3", "wire"], default="boto3")
    args = parser.parse_args()
    result = measure_ceiling(args.endpoint, args.processes, args.threads, args.calls,
                             client=args.client)
    print(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
