"""A scripted SES v2 endpoint for answers moto cannot give (throttling, 5xx, timeouts), for
SendBulkEmail, which moto's sesv2 does not implement, and for the account's reads
(GetAccount, identities, configuration sets: tests/support/fake_ses_account.py).

SendBulkEmail is answered per the AWS API shape: one BulkEmailEntryResult
(Status, Error, MessageId) per entry, each entry's content rendered from
the inline TemplateContent with its ReplacementTemplateData merged over
TemplateData, the way SES documents its templates (Handlebars): ``{{x}}``
HTML-escaped, ``{{{x}}}`` raw, ``\\{{`` a literal ``{{``, a dotted name a
path, a missing value empty; helpers, partials, sections and comments are
refused (SES renders "only simple substitutions" for inline content).

Every request's SigV4 signature is checked, as SES checks it, by botocore's
own signer over the headers the request says it signed (``SECRETS``): a
wrong one is answered 403 SignatureDoesNotMatch.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import ssl
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.fake_ses_account import AccountReads

#: name -> (HTTP status, SES error code or None, message)
ANSWERS = {
    "ok": (200, None, ""),
    "throttle": (429, "TooManyRequestsException", "Maximum sending rate exceeded."),
    "paused": (400, "SendingPausedException", "Sending is paused for this account."),
    "reject": (400, "MessageRejected", "Email address is not verified."),
    "error500": (500, "InternalFailure", "Internal error."),
}
BULK_PATH = "/v2/email/outbound-bulk-emails"
#: Access key id -> secret key of the credentials this SES knows (the suite's).
SECRETS = {"testing": "testing"}
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/"
                            r"aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")


def signature_problem(method: str, path: str, headers, body: bytes) -> str | None:
    """Why SES would refuse this request's signature, or None when it is right."""
    match = _AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
    if match is None:
        return f"no SigV4 Authorization header: {headers.get('Authorization')!r}"
    access_key, day, region, service, signed, signature = match.groups()
    if access_key not in SECRETS:
        return f"unknown access key {access_key}"
    stamp = headers.get("X-Amz-Date", "")
    if not stamp.startswith(day):
        return f"X-Amz-Date {stamp!r} is not of the credential's day {day}"
    request = AWSRequest(method=method, url=f"http://{headers['Host']}{path}", data=body,
                         headers={name: headers[name] for name in signed.split(";")})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(access_key, SECRETS[access_key],
                                   headers.get("X-Amz-Security-Token")), service, region)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, signature):
        return "The request signature we calculated does not match the signature you provided."
    return None
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;",
            "`": "&#x60;", "=": "&#x3D;"}


class TemplateError(ValueError):
    """Raised when a template uses more than simple substitutions."""


def escape_expression(value: str) -> str:
    """Handlebars' escapeExpression."""
    return re.sub(r"[&<>\"'`=]", lambda m: _ESCAPES[m.group(0)], value)


def render_template(source: str, data: dict) -> str:
    """``source`` rendered the way SES renders an inline template (see the module docstring)."""
    out, position = [], 0
    while (start := source.find("{{", position)) != -1:
        if start > 0 and source[start - 1] == "\\":
            out.append(source[position:start - 1] + "{{")
            position = start + 2
            continue
        out.append(source[position:start])
        triple = source.startswith("{{{", start)
        end = source.find("}}}" if triple else "}}", start)
        if end == -1:
            raise TemplateError(f"unclosed tag at {start}")
        expression = source[start + (3 if triple else 2):end].strip()
        if not re.fullmatch(r"[\w.\-]+", expression) or expression == "else":
            raise TemplateError(f"unsupported expression {{{{{expression}}}}}")
        value = data
        for step in expression.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        text = "" if value is None else str(value)
        out.append(text if triple else escape_expression(text))
        position = end + (3 if triple else 2)
    out.append(source[position:])
    return "".join(out)


class ScriptedSes:
    """Answers SendEmail and SendBulkEmail calls with the next scripted answer
    ("ok" once the script is spent).

    ``"timeout"`` sleeps past the client's read timeout before answering ok,
    like an SES that accepted the message but whose answer never arrived;
    ``"drop"`` closes the connection unanswered once the request is read.
    ``entry_script`` gives bulk entries their statuses in turn (``SUCCESS``
    once spent). ``accepted`` holds every accepted message as a SendEmail
    request: a bulk entry as its rendered Simple content (with ``"Bulk"``).
    """

    def __init__(self, tls: tuple | None = None) -> None:
        """``tls``: (certificate file, key file) to answer over HTTPS, at ``https://localhost``."""
        self.script: deque[str] = deque()
        self.entry_script: deque[tuple[str, str]] = deque()
        self.accepted: list[dict] = []
        self.bulk_calls: list[dict] = []
        self.requests = 0
        #: Why each request refused for its signature was refused.
        self.refused_signatures: list[str] = []
        self.timeout_sleep = 3.0
        #: Close each connection right after answering, without a Connection: close.
        self.close_after_answer = False
        #: What GetAccount, ListEmailIdentities and the configuration set reads answer.
        self.reads = AccountReads()
        self._lock = threading.Lock()
        ses = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as SES

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                problem = signature_problem("POST", self.path, self.headers, raw)
                if problem:
                    with ses._lock:
                        ses.refused_signatures.append(problem)
                    self._answer(403, {"message": problem}, "SignatureDoesNotMatch")
                    return
                read = ses.reads.answer("POST", self.path, raw)
                if read is not None:
                    self._answer(*read)
                    return
                body = json.loads(raw)
                with ses._lock:
                    ses.requests += 1
                    answer = ses.script.popleft() if ses.script else "ok"
                if answer == "timeout":
                    time.sleep(ses.timeout_sleep)
                    answer = "ok"
                if answer == "drop":  # the request arrived; the connection dies unanswered
                    self.close_connection = True
                    return
                status, code, message = ANSWERS[answer]
                if code is not None:
                    payload = {"message": message}
                elif self.path.startswith(BULK_PATH):
                    status, payload = ses.send_bulk(body)
                else:
                    with ses._lock:
                        ses.accepted.append(body)
                    payload = {"MessageId": str(uuid.uuid4())}
                self._answer(status, payload, code)

            def do_GET(self) -> None:  # noqa: N802 - GetAccount, configuration sets
                problem = signature_problem("GET", self.path, self.headers, b"")
                if problem:
                    self._answer(403, {"message": problem}, "SignatureDoesNotMatch")
                    return
                self._answer(*(ses.reads.answer("GET", self.path)
                               or (404, {"message": "no such path"}, "NotFoundException")))

            def do_PUT(self) -> None:  # noqa: N802 - UpdateConfigurationSetEventDestination
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                problem = signature_problem("PUT", self.path, self.headers, raw)
                if problem:
                    self._answer(403, {"message": problem}, "SignatureDoesNotMatch")
                    return
                self._answer(*(ses.reads.answer("PUT", self.path, raw)
                               or (404, {"message": "no such path"}, "NotFoundException")))

            def _answer(self, status: int, payload: dict, code: str | None) -> None:
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
                # Closed without saying so: what an idle timeout does to a kept-alive connection.
                self.close_connection = self.close_connection or ses.close_after_answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def account(self) -> dict:
        """What GetAccount answers (SES v2 shape)."""
        return self.reads.account

    def send_bulk(self, body: dict) -> tuple[int, dict]:
        """SendBulkEmail: each entry rendered and accepted, or failed with its scripted status."""
        entries = body.get("BulkEmailEntries") or []
        template = body.get("DefaultContent", {}).get("Template", {})
        content = template.get("TemplateContent")
        if not entries or len(entries) > 50 or content is None:
            return 400, {"message": "BadRequestException: 1 to 50 entries and TemplateContent"}
        defaults = json.loads(template.get("TemplateData") or "{}")
        with self._lock:
            self.bulk_calls.append(body)
        results = []
        for entry in entries:
            with self._lock:
                status, error = (self.entry_script.popleft() if self.entry_script
                                 else ("SUCCESS", ""))
            if status != "SUCCESS":
                results.append({"Status": status, "Error": error})
                continue
            replacement = (entry.get("ReplacementEmailContent", {}).get("ReplacementTemplate", {})
                           .get("ReplacementTemplateData") or "{}")
            data = {**defaults, **json.loads(replacement)}
            try:
                simple = {part: {"Data": render_template(content[part], data)}
                          for part in ("Subject", "Html", "Text") if part in content}
            except TemplateError as exc:
                results.append({"Status": "FAILED", "Error": f"rendering failure: {exc}"})
                continue
            headers = {h["Name"]: h["Value"] for h in template.get("Headers", [])}
            headers.update({h["Name"]: h["Value"] for h in entry.get("ReplacementHeaders", [])})
            message_id = str(uuid.uuid4())
            with self._lock:
                self.accepted.append({
                    "Bulk": True, "MessageId": message_id,
                    "FromEmailAddress": body.get("FromEmailAddress"),
                    "ReplyToAddresses": body.get("ReplyToAddresses"),
                    "Destination": entry["Destination"],
                    "Content": {"Simple": {
                        "Subject": simple["Subject"],
                        "Body": {k: v for k, v in simple.items() if k != "Subject"},
                        "Headers": [{"Name": k, "Value": v} for k, v in headers.items()]}},
                })
            results.append({"Status": "SUCCESS", "MessageId": message_id})
        return 200, {"BulkEmailEntryResults": results}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def delivered(request: dict) -> dict:
    """What one accepted SendEmail request delivers: subject, html, text, headers (by name)."""
    content = request["Content"]
    if "Raw" in content:
        from email import message_from_bytes, policy

        mime = message_from_bytes(base64.b64decode(content["Raw"]["Data"]), policy=policy.default)
        html, text = mime.get_body(("html",)), mime.get_body(("plain",))
        return {"subject": mime["Subject"], "html": html.get_content() if html else None,
                "text": text.get_content() if text else None,
                "headers": {k: str(v) for k, v in mime.items()}}
    simple = content["Simple"]
    return {"subject": simple["Subject"]["Data"],
            "html": simple["Body"].get("Html", {}).get("Data"),
            "text": simple["Body"].get("Text", {}).get("Data"),
            "headers": {h["Name"]: h["Value"] for h in simple.get("Headers", [])}}
