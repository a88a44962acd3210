"""An SES v2 endpoint answering the identity reads with states moto cannot give.

moto's identities are always verified (``VerificationStatus`` SUCCESS) and
their DKIM is either NOT_STARTED or SUCCESS. This endpoint answers
``ListEmailIdentities`` (``POST /v2/email/list-identities``, as botocore
sends it) and ``GetEmailIdentity`` (``GET /v2/email/identities/{name}``) in
the API's shape from ``identities`` (name → the GetEmailIdentity answer), so a test
can show a pending domain, failed DKIM, an address; ``throttle`` makes the
next requests answer 429 ``TooManyRequestsException`` as SES does. Every
request's SigV4 signature is checked as ``tests.support.fake_ses`` checks it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from tests.support.fake_ses import signature_problem

PATH = "/v2/email/identities"
LIST_PATH = "/v2/email/list-identities"


def identity(kind: str = "DOMAIN", verification: str = "SUCCESS", dkim: str = "SUCCESS",
             tokens: tuple[str, ...] = ("tok1", "tok2", "tok3")) -> dict:
    """A GetEmailIdentity answer."""
    return {"IdentityType": kind, "VerificationStatus": verification,
            "VerifiedForSendingStatus": verification == "SUCCESS",
            "FeedbackForwardingStatus": True,
            "DkimAttributes": {"SigningEnabled": dkim == "SUCCESS", "Status": dkim,
                               "Tokens": list(tokens), "SigningAttributesOrigin": "AWS_SES"}}


class FakeIdentities:
    def __init__(self, identities: dict[str, dict]) -> None:
        self.identities = identities
        #: How many of the next requests answer 429 TooManyRequestsException; of the next
        #: GetEmailIdentity requests only (the list answered).
        self.throttle = 0
        self.throttle_details = 0
        #: Requests answered, by path (each GetEmailIdentity is one).
        self.paths: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - ListEmailIdentities
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self._refused("POST", raw):
                    return
                if urlsplit(self.path).path != LIST_PATH:
                    self._answer(404, {"message": "no such operation"}, "NotFoundException")
                    return
                self._answer(200, fake.listing(json.loads(raw or b"{}")), None)

            def do_GET(self) -> None:  # noqa: N802 - GetEmailIdentity
                if self._refused("GET", b""):
                    return
                name = unquote(urlsplit(self.path).path.removeprefix(PATH + "/"))
                if name not in fake.identities:
                    self._answer(404, {"message": f"Email identity {name} does not exist."},
                                 "NotFoundException")
                    return
                self._answer(200, fake.identities[name], None)

            def _refused(self, method: str, body: bytes) -> bool:
                """Answered already: a wrong signature, or a throttled request."""
                problem = signature_problem(method, self.path, self.headers, body)
                if problem:
                    self._answer(403, {"message": problem}, "SignatureDoesNotMatch")
                    return True
                with fake._lock:
                    fake.paths.append(self.path)
                    throttled = fake.throttle > 0
                    fake.throttle -= throttled
                    if method == "GET" and not throttled:
                        throttled = fake.throttle_details > 0
                        fake.throttle_details -= throttled
                if throttled:
                    self._answer(429, {"message": "Too many requests."},
                                 "TooManyRequestsException")
                return throttled

            def _answer(self, status: int, payload: dict, code: str | None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                if code:
                    self.send_header("x-amzn-ErrorType", code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def listing(self, body: dict) -> dict:
        """ListEmailIdentities: pages of ``PageSize`` (NextToken: the next one's start)."""
        names = sorted(self.identities)
        start = int(body.get("NextToken") or 0)
        size = int(body.get("PageSize") or 100)
        page = names[start:start + size]
        answer = {"EmailIdentities": [
            {"IdentityType": self.identities[n]["IdentityType"], "IdentityName": n,
             "SendingEnabled": self.identities[n]["VerificationStatus"] == "SUCCESS",
             "VerificationStatus": self.identities[n]["VerificationStatus"]} for n in page]}
        if start + size < len(names):
            answer["NextToken"] = str(start + size)
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
