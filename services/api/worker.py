"""gunicorn's threaded worker, reading each request's head off the threads.

gunicorn's ``gthread`` worker hands a new connection to a thread, which then
reads the request with a blocking socket: 16 clients that send a request
line and stall (slowloris) hold all 16 threads of two workers, and the API
stops answering. ``BufferingWorker`` reads the headers, and a body of at most
``BODY_BUFFER`` bytes, in the worker's event loop, non-blocking; only a
complete request goes to a thread. A connection that has not delivered its
head within ``HEAD_TIMEOUT`` seconds is closed. A larger body is read by the
thread, each read bounded by ``READ_TIMEOUT``.

Keep-alive is off (``keepalive = 0`` in services.api.main): every request
comes on a new connection, so every request goes through this path. Behind
a buffering proxy (nginx in docker-compose.yml) none of this is needed, but
it does no harm.
"""

from __future__ import annotations

import re
import selectors
import time
from collections import deque
from functools import partial

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

#: Seconds a client has to send its request line, headers and small body.
HEAD_TIMEOUT = 10.0
#: Bodies up to this size are read before a thread is given the request.
BODY_BUFFER = 1024 * 1024
#: Largest head read here; a longer one goes to the thread, which refuses it.
MAX_HEAD = 64 * 1024
#: Seconds each read of a larger body may block its thread.
READ_TIMEOUT = 30.0

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,19})[ \t]*\r\n", re.IGNORECASE)


class _Conn(TConn):
    """A connection that knows how much of its request it holds."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.head = bytearray()
        self.deadline = time.monotonic() + HEAD_TIMEOUT

    def init(self) -> None:
        super().init()
        # After TConn.init made the socket blocking: a stalled large body
        # costs its thread READ_TIMEOUT at most per read.
        self.sock.settimeout(READ_TIMEOUT)

    def complete(self) -> bool:
        """True once the head (and a body up to BODY_BUFFER) is here, or too long to wait for."""
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return len(self.head) > MAX_HEAD
        found = _CONTENT_LENGTH.search(self.head, 0, end + 2)
        length = int(found.group(1)) if found else 0
        return length > BODY_BUFFER or len(self.head) >= end + 4 + length


class BufferingWorker(ThreadWorker):
    """``gthread``, except that threads get requests whose head has arrived."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reading: deque[_Conn] = deque()

    def accept(self, listener) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except BlockingIOError:
            return
        except OSError:
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, client_sock, client_addr, listener.getsockname())
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: _Conn, _sock) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.head += data
        if not conn.complete():
            return
        self.poller.unregister(conn.sock)
        self.reading.remove(conn)
        conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(conn.head))
        conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn: _Conn) -> None:
        self.poller.unregister(conn.sock)
        self.reading.remove(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        while self.reading and self.reading[0].deadline <= now:
            self._drop(self.reading[0])
