"""Per-process-kind metrics setup: the multiprocess folder, the registry to expose, the server.

gunicorn (api) and the supervisor (sender, recorder) fork workers, each
counting in its own memory: prometheus_client's multiprocess mode has each
write its values to files in ``PROMETHEUS_MULTIPROC_DIR``, summed at scrape
time. ``prepare`` gives each process kind a fresh folder of its own (a
restart never adds a dead run's counts) before anything imports
prometheus_client, which reads the variable once, at import. The process
that made the folder removes it when it exits cleanly: a stopped stack
leaves nothing in the temporary folder.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("mailpipe.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Kinds whose processes fork workers after start-up.
FORKING = ("api", "sender", "recorder", "webhooks")


def prepare(kind: str, base: Path | None = None) -> Path | None:
    """Set (and empty) this kind's multiprocess folder; None for kinds that do not fork.

    The folder is ``<base>/<kind>-<pid>`` (base: MAILPIPE_METRICS_DIR, or the
    system's temporary folder): unique per run, so stacks side by side on
    one machine never mix their counts.
    """
    if kind not in FORKING:
        os.environ.pop(ENV, None)
        return None
    folder = Path(base or tempfile.gettempdir()) / f"mailpipe-metrics-{kind}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    os.environ[ENV] = str(folder)
    atexit.register(_remove, folder, os.getpid())
    return folder


def _remove(folder: Path, owner: int) -> None:
    """At exit of the process that made ``folder``: remove it (and its files).

    Forked workers inherit this handler, and a gunicorn worker leaves through
    ``sys.exit``: only the maker removes it, never a worker its siblings still use.
    """
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)


def exposition_registry():
    """What a scrape reads: every process's files in multiprocess mode, else this process."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if not os.environ.get(ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def serve(port: int, host: str, registry=None) -> None:
    """Serve ``/metrics`` on ``host:port`` (MAILPIPE_METRICS_HOST) from a daemon thread;
    port 0: not at all."""
    if not port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=registry or exposition_registry())
    except OSError as exc:
        # Metrics are for operators: a taken port must not stop the mail.
        log.error("cannot serve metrics on %s port %d: %s", host, port, exc)


def worker_exited(pid: int) -> None:
    """A forked worker died: drop its live-gauge files (its counters stay summed)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """MAILPIPE_METRICS_ALLOW: comma- or space-separated CIDRs (a bare address is one host)."""
    return tuple(ipaddress.ip_network(part, strict=False)
                 for part in text.replace(",", " ").split())


def allowed(address: str | None, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)
