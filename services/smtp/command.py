"""``mailpipe smtp``'s arguments, apart from the server: building the CLI's parser imports
nothing heavy (the server's modules load SQLAlchemy, dramatiq and prometheus_client,
which must not be imported before ``shared.metrics.setup.prepare``)."""

from __future__ import annotations

DEFAULT_BIND = "0.0.0.0:587"
DEFAULT_TLS_BIND = "0.0.0.0:465"


def add_parser(sub) -> None:
    smtp = sub.add_parser("smtp", help="run the SMTP submission server (STARTTLS and TLS)")
    smtp.add_argument("--bind", default=DEFAULT_BIND,
                      help=f"HOST:PORT of the STARTTLS listener (default {DEFAULT_BIND})")
    smtp.add_argument("--tls-bind", default=DEFAULT_TLS_BIND,
                      help=f"HOST:PORT of the implicit-TLS listener (default "
                      f"{DEFAULT_TLS_BIND}); '' or 'none' turns it off")
