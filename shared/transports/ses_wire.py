"""SES v2's two sending calls, SendEmail and SendBulkEmail, made straight over HTTP.

Why: ``client.send_email`` costs ~800 µs of CPU per call in botocore
(cProfile against a local endpoint: urllib3 and http.client ~48%, SigV4
~18%, serialisation, user agent and endpoint rules ~15%, event hooks and
model-driven parsing the rest), and a sender's threads share one GIL. What
SES needs is one JSON body, a few headers and a signature: ~190 µs here.
On a 2-core machine that was the difference between half and three
quarters of what raw boto3 reaches (bench/pipeline.py).

What boto3 still decides, read from the client it was made from: the
endpoint (AWS_ENDPOINT_URL_SESV2, region, FIPS), the region and signing
name, the credentials (frozen anew for every call, so boto3's refreshing
ones stay fresh), the timeouts. Error answers are parsed by botocore's own
rest-json parser into the ClientError boto3 would raise, so they are
classified exactly as boto3's (shared.transports.ses.classify_client_error).
Every other SES call (GetAccount, …) goes through boto3.

What is done here: the body (orjson: the JSON botocore's serialiser writes,
blobs in base64; the suite compares them), SigV4 (the signing key derived
once per day and secret; every request the suite's SES receives is checked
against botocore's own signer), keep-alive connections reused LIFO (TLS
verified against botocore's CA bundle, or AWS_CA_BUNDLE).

``SesWire.for_client`` declines (boto3 sends) when a proxy is configured for
the endpoint or the client has no credentials to sign with (or none it
can reach: botocore's ``_get_credentials`` is private).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import os
import select
import ssl
import time
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

import botocore
import orjson
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import DEFAULT_CA_BUNDLE
from botocore.parsers import create_parser

from shared.errors import Failure, TransportError
from shared.transports.base import Pace

#: Operation -> request path (SES v2's REST routes).
PATHS = {"SendEmail": "/v2/email/outbound-emails",
         "SendBulkEmail": "/v2/email/outbound-bulk-emails"}
_USER_AGENT = f"mailpipe Botocore/{botocore.__version__}"
log = logging.getLogger("mailpipe.ses")


def request_body(request: dict) -> bytes:
    """``request`` (boto3's parameters) as SES v2's JSON body: bytes (Raw Data) in base64."""
    return orjson.dumps(request, default=_blob)


def _blob(value):
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} cannot go in an SES request")


class Signer:
    """AWS Signature Version 4 for POSTs of JSON to one host, region and service."""

    def __init__(self, credentials, region: str, service: str, host: str) -> None:
        self.credentials, self.region, self.service, self.host = (
            credentials, region, service, host)
        self._keys: dict[tuple[str, str], bytes] = {}

    def headers(self, path: str, body: bytes) -> dict[str, str]:
        """The headers to send ``body`` with, ``Authorization`` included."""
        frozen = self.credentials.get_frozen_credentials()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        headers = {"Content-Type": "application/json", "Host": self.host, "X-Amz-Date": stamp}
        signed = "content-type;host;x-amz-date"
        canonical = (f"POST\n{path}\n\ncontent-type:application/json\nhost:{self.host}\n"
                     f"x-amz-date:{stamp}\n")
        if frozen.token:
            headers["X-Amz-Security-Token"] = frozen.token
            signed += ";x-amz-security-token"
            canonical += f"x-amz-security-token:{frozen.token}\n"
        canonical += f"\n{signed}\n{hashlib.sha256(body).hexdigest()}"
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = (f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        signature = hmac.new(self._key(day, frozen.secret_key), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={frozen.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")
        return headers

    def _key(self, day: str, secret: str) -> bytes:
        key = self._keys.get((day, secret))
        if key is None:
            key = hmac.digest(f"AWS4{secret}".encode(), day.encode(), "sha256")
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._keys = {(day, secret): key}  # yesterday's key is not needed again
        return key


class SesWire:
    """SendEmail and SendBulkEmail over keep-alive connections to the client's endpoint."""

    def __init__(self, client, credentials) -> None:
        url = urlsplit(client.meta.endpoint_url)
        self.https = url.scheme == "https"
        self.hostname = url.hostname
        self.port = url.port or (443 if self.https else 80)
        default_port = url.port is None or url.port == (443 if self.https else 80)
        host = self.hostname if default_port else f"{self.hostname}:{url.port}"
        self.base_path = url.path.rstrip("/")
        config = client.meta.config
        self.connect_timeout, self.read_timeout = config.connect_timeout, config.read_timeout
        self.signer = Signer(credentials, client.meta.region_name,
                             client.meta.service_model.signing_name, host)
        self._model = client.meta.service_model
        self._parser = create_parser("rest-json")
        self._tls = (ssl.create_default_context(
            cafile=os.environ.get("AWS_CA_BUNDLE") or DEFAULT_CA_BUNDLE) if self.https else None)
        #: Idle connections, the most recently used last (list.pop and
        #: append are atomic: no lock).
        self._idle: list[http.client.HTTPConnection] = []
        #: Called with each call's seconds on the wire (the SES latency histogram).
        self.timed: Callable[[float], None] = lambda seconds: None

    @classmethod
    def for_client(cls, client) -> SesWire | None:
        """A wire to ``client``'s endpoint, or None where boto3 must send (see the module)."""
        # botocore's own accessor, private: a botocore without it leaves the sends to boto3.
        accessor = getattr(client, "_get_credentials", None)
        credentials = accessor() if accessor is not None else None
        url = urlsplit(client.meta.endpoint_url)
        proxied = (client.meta.config.proxies
                   or (urllib.request.getproxies().get(url.scheme)
                       and not urllib.request.proxy_bypass(url.hostname)))
        declined = ("no credentials it can sign with" if credentials is None
                    else "a proxy is configured for the endpoint" if proxied
                    else f"endpoint {client.meta.endpoint_url} is not plain http(s)"
                    if url.scheme not in ("http", "https") or url.query else None)
        if declined:
            log.info("SES SendEmail/SendBulkEmail go through boto3: %s", declined)
            return None
        return cls(client, credentials)

    def open(self, connections: int) -> None:
        """Open ``connections`` connections ahead of the first sends (TCP and TLS handshakes)."""
        for _ in range(connections - len(self._idle)):
            self._idle.append(self._connect())

    def call(self, operation: str, request: dict, pace: Pace) -> dict:
        """Send ``request``; SES's parsed answer, or ClientError as boto3 would raise it.

        TransportError when no complete request left (transient: not sent)
        or no answer came back (ambiguous). ``pace`` runs once the request
        is signed and a connection is ready for it, right before it is
        written (see ``_paced``).
        """
        path = self.base_path + PATHS[operation]
        try:
            body = request_body(request)
        except TypeError as exc:  # orjson's JSONEncodeError: a lone surrogate, say
            raise TransportError(f"SES request not valid: {exc}", Failure.PERMANENT) from exc
        try:
            headers = self.signer.headers(path, body)
        except BotoCoreError as exc:
            # Refreshing credentials that cannot be had (an expired role, an
            # unreachable credential source): nothing left, and no message can
            # be signed until they are fixed, so the fleet pauses, as for boto3's
            # NoCredentialsError.
            raise TransportError(f"not sent: no credentials to sign with: {exc}",
                                 Failure.TRANSIENT, pauses_fleet=True) from exc
        headers["User-Agent"] = _USER_AGENT
        connection = self._paced(pace)
        started = time.perf_counter()
        try:
            connection.request("POST", path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            # The request did not all leave: SES cannot act on part of one.
            connection.close()
            raise TransportError(f"SES request not sent: {exc!r}", Failure.TRANSIENT) from exc
        try:
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            self.timed(time.perf_counter() - started)
            raise TransportError(f"SES outcome unknown: {exc!r}", Failure.AMBIGUOUS) from exc
        self.timed(time.perf_counter() - started)
        if response.will_close:
            connection.close()
        else:
            self._idle.append(connection)
        if response.status == 200:
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise TransportError(f"SES answered 200 with no JSON: {data[:200]!r}",
                                     Failure.AMBIGUOUS) from exc
        raise self._client_error(operation, response, data)

    def _client_error(self, operation: str, response, data: bytes) -> ClientError:
        """The ClientError boto3 raises for this answer (botocore's parser reads it)."""
        shape = self._model.operation_model(operation).output_shape
        parsed = self._parser.parse(
            {"status_code": response.status, "body": data,
             "headers": {name.lower(): value for name, value in response.getheaders()}},
            shape)
        return ClientError(parsed, operation)

    def _paced(self, pace: Pace) -> http.client.HTTPConnection:
        """A connection to write the request on at once, its pace taken.

        The connection comes first: a new one costs a TCP and TLS handshake
        (up to the connect timeout), and a request written that much after
        its slot bunches with the sends of later slots. The pace may wait,
        though, and SES may close an idle connection meanwhile (a request
        written to it would end ambiguous): checked again after the pace, a
        connection that died is replaced, and the pace taken again, since
        the handshake made the first slot late. A pace that raises leaves
        the connection idle for the next send.
        """
        connection = self._connection()
        self._pace(pace, connection)
        if not self._alive(connection):
            connection.close()
            connection = self._connection()
            self._pace(pace, connection)
        return connection

    def _pace(self, pace: Pace, connection: http.client.HTTPConnection) -> None:
        """Run ``pace``; when it refuses (nothing sent), ``connection`` stays for the next send."""
        try:
            pace()
        except BaseException:
            self._idle.append(connection)
            raise

    def _connection(self) -> http.client.HTTPConnection:
        """An idle connection the server has not closed, else a new one."""
        while self._idle:
            try:
                connection = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if self._alive(connection):
                return connection
            connection.close()
        return self._connect()

    def _alive(self, connection: http.client.HTTPConnection) -> bool:
        """Whether an idle connection can take a request: the server has not closed it.

        An idle connection's socket turns readable when the server closes it
        or sends what no request asked for, and also, under TLS 1.3, when
        the server's session tickets (NewSessionTicket, sent after the
        handshake) wait unread, as they do on every connection opened ahead
        (``open``). Polling the socket alone closed all of those. So a
        readable TLS socket is read through TLS without blocking: only TLS
        records consumed (SSLWantReadError) means alive; an end of stream, an
        error or any data means closed (or unusable).
        """
        sock = connection.sock
        if sock is None:
            return False
        tls = isinstance(sock, ssl.SSLSocket)
        poll = select.poll()
        poll.register(sock, select.POLLIN)
        if not poll.poll(0):
            return not (tls and sock.pending())
        if not tls:
            return False
        sock.setblocking(False)
        try:
            sock.recv(1)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        except OSError:  # reset, or a TLS alert: closed
            return False
        finally:
            sock.settimeout(self.read_timeout)
        return False

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            connection = http.client.HTTPSConnection(
                self.hostname, self.port, timeout=self.connect_timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(
                self.hostname, self.port, timeout=self.connect_timeout)
        try:
            connection.connect()
        except OSError as exc:  # refused, unreachable, TLS refused: nothing was sent
            connection.close()
            raise TransportError(f"SES unreachable at {self.hostname}:{self.port}: {exc!r}",
                                 Failure.TRANSIENT) from exc
        connection.sock.settimeout(self.read_timeout)
        return connection
