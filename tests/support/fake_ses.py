"""A scripted SES v2 endpoint for answers moto cannot give (throttling, 5xx, timeouts)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: name -> (HTTP status, SES error code or None, message)
ANSWERS = {
    "ok": (200, None, ""),
    "throttle": (429, "TooManyRequestsException", "Maximum sending rate exceeded."),
    "paused": (400, "SendingPausedException", "Sending is paused for this account."),
    "reject": (400, "MessageRejected", "Email address is not verified."),
    "error500": (500, "InternalFailure", "Internal error."),
}


class ScriptedSes:
    """Answers SendEmail with the next scripted answer ("ok" once the script is spent).

    ``"timeout"`` sleeps past the client's read timeout before answering ok,
    like an SES that accepted the message but whose answer never arrived.
    """

    def __init__(self) -> None:
        self.script: deque[str] = deque()
        self.accepted: list[dict] = []
        self.requests = 0
        self.timeout_sleep = 3.0
        #: What GetAccount answers (SES v2 shape).
        self.account = {"SendingEnabled": True, "SendQuota": {
            "MaxSendRate": 14.0, "Max24HourSend": 50000.0, "SentLast24Hours": 0.0}}
        ses = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ses.requests += 1
                answer = ses.script.popleft() if ses.script else "ok"
                if answer == "timeout":
                    time.sleep(ses.timeout_sleep)
                    answer = "ok"
                status, code, message = ANSWERS[answer]
                if code is None:
                    ses.accepted.append(body)
                    payload = {"MessageId": str(uuid.uuid4())}
                else:
                    payload = {"message": message}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    if code:
                        self.send_header("x-amzn-ErrorType", code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (read timeout)

            def do_GET(self) -> None:  # noqa: N802 - GetAccount
                data = json.dumps(ses.account).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
