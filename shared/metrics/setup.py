"""Per-process-kind metrics setup: the multiprocess folder, the registry to expose, the server.

gunicorn (api) and the supervisor (sender, recorder) fork workers, each
counting in its own memory: prometheus_client's multiprocess mode has each
write its values to files in ``PROMETHEUS_MULTIPROC_DIR``, summed at scrape
time. ``prepare`` gives each process kind a fresh folder of its own (a
restart never adds a dead run's counts) before anything imports
prometheus_client, which reads the variable once, at import.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("mailpipe.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Kinds whose processes fork workers after start-up.
FORKING = ("api", "sender", "recorder")


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
    folder.mkdir(parents=True)
    os.environ[ENV] = str(folder)
    return folder


def exposition_registry():
    """What a scrape reads: every process's files in multiprocess mode, else this process."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if not os.environ.get(ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def serve(port: int, registry=None) -> None:
    """Serve ``/metrics`` on ``port`` (all interfaces) from a daemon thread; 0: not at all."""
    if not port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(port, registry=registry or exposition_registry())
    except OSError as exc:
        # Metrics are for operators: a taken port must not stop the mail.
        log.error("cannot serve metrics on port %d: %s", port, exc)


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
