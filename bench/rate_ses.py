"""A fake SES v2 that enforces a sending rate the strict way, for bench/rate.py.

Any SendEmail that would make more than R recipients arrive within any
sliding one-second window is refused with 429 TooManyRequestsException,
as SES documents for its maximum send rate. GetAccount reports R as
MaxSendRate, so a fleet in ``MAILPIPE_SEND_RATE=auto`` learns it.

    POST /v2/email/outbound-emails  SendEmail (after --latency-ms)
    POST /v2/email/outbound-bulk-emails  SendBulkEmail: the call's recipients
                                    arrive together, all admitted or all refused
    GET  /v2/email/account          GetAccount
    POST /_rate?r=N                 change R (takes effect at once)
    GET  /_stats                    {"accepted": [arrival unix times], "throttled": [times],
                                     "calls": [[arrival, bulk?] of each accepted call],
                                     "per_recipient_max": n}

Runs as its own process (asyncio, standard library only) so it does not
share the bench's GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter, deque
from urllib.parse import parse_qs, urlsplit


class RateSes:
    def __init__(self, rate: float, latency: float) -> None:
        self.rate = rate
        self.latency = latency
        self.window: deque[float] = deque()
        self.accepted: list[float] = []
        self.throttled: list[float] = []
        self.recipients: Counter[str] = Counter()
        self.bulk_calls = 0
        self.calls: list[tuple[float, bool]] = []  # accepted calls: (arrival, bulk?)

    def admit(self, count: int, bulk: bool = False) -> bool:
        """Arrival-time check: room for ``count`` more in the last second?"""
        now = time.time()
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) + count > self.rate:
            self.throttled.append(now)
            return False
        self.window.extend([now] * count)
        self.accepted.extend([now] * count)  # one arrival per recipient
        self.calls.append((now, bulk))
        return True

    async def handle(self, method: str, target: str, body: bytes) -> tuple[int, dict, dict]:
        url = urlsplit(target)
        if method == "GET" and url.path == "/v2/email/account":
            return 200, {}, {"SendingEnabled": True, "SendQuota": {
                "MaxSendRate": self.rate, "Max24HourSend": 10_000_000.0,
                "SentLast24Hours": float(len(self.accepted))}}
        if method == "POST" and url.path == "/_rate":
            self.rate = float(parse_qs(url.query)["r"][0])
            return 200, {}, {"rate": self.rate}
        if method == "GET" and url.path == "/_stats":
            return 200, {}, {"accepted": self.accepted, "throttled": self.throttled,
                             "bulk_calls": self.bulk_calls, "calls": self.calls,
                             "per_recipient_max": max(self.recipients.values(), default=0)}
        if method == "POST" and url.path == "/v2/email/outbound-emails":
            request = json.loads(body)
            to = request.get("Destination", {}).get("ToAddresses", [])
            if not self.admit(len(to)):
                return 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, {
                    "message": "Maximum sending rate exceeded."}
            self.recipients.update(to)
            await asyncio.sleep(self.latency)
            return 200, {}, {"MessageId": uuid.uuid4().hex}
        if method == "POST" and url.path == "/v2/email/outbound-bulk-emails":
            entries = json.loads(body).get("BulkEmailEntries", [])
            to = [a for e in entries for a in e.get("Destination", {}).get("ToAddresses", [])]
            if not self.admit(len(to), bulk=True):  # the call's recipients arrive together
                return 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, {
                    "message": "Maximum sending rate exceeded."}
            self.recipients.update(to)
            self.bulk_calls += 1
            await asyncio.sleep(self.latency)
            return 200, {}, {"BulkEmailEntryResults": [
                {"Status": "SUCCESS", "MessageId": uuid.uuid4().hex} for _ in entries]}
        return 404, {}, {"message": "not found"}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                status, extra, payload = await self.handle(method, target, body)
                data = json.dumps(payload).encode()
                head_out = [f"HTTP/1.1 {status} X", "Content-Type: application/json",
                            f"Content-Length: {len(data)}"]
                head_out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head_out) + "\r\n\r\n").encode() + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def main(port: int, rate: float, latency_ms: float) -> None:
    ses = RateSes(rate, latency_ms / 1000)
    server = await asyncio.start_server(ses.serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=14)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.rate, args.latency_ms))
