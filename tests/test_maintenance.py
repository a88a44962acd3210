"""`mailpipe migrate`, `requeue` and `prune` show progress: a bar on a terminal, lines otherwise."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

from sqlalchemy import text

from shared.db.engine import make_engine
from shared.runtime.progress import progress
from tests.scheduler.test_dispatch import make_messages
from tests.support.stack import settings_env


def run_cli(settings, *args, database_url=None, tty=False):
    env = {**settings_env(settings), "PATH": "/usr/bin:/bin"}
    if database_url:
        env["MAILPIPE_DATABASE_URL"] = database_url
    if not tty:
        return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    result = subprocess.run([sys.executable, "-m", "services.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=follower, text=True, timeout=120)
    os.close(follower)
    chunks = []
    try:
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    except OSError:  # the pty reports EIO once drained
        pass
    os.close(leader)
    result.stderr = b"".join(chunks).decode(errors="replace")
    return result


def test_migrate_counts_its_migrations_in_plain_lines(settings, postgres):
    admin = make_engine(settings.database_url, pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS migrate_progress"))
        conn.execute(text("CREATE DATABASE migrate_progress"))
    admin.dispose()
    url = settings.database_url.rsplit("/", 1)[0] + "/migrate_progress"
    first = run_cli(settings, "migrate", database_url=url)
    assert first.returncode == 0, first.stderr
    assert "database schema is up to date" in first.stdout
    [line] = [x for x in first.stderr.splitlines() if x.startswith("migrating:")]
    done, total = line.split()[1].split("/")
    assert done == total and int(total) >= 9 and line.endswith("done")
    again = run_cli(settings, "migrate", database_url=url)
    assert "migrating" not in again.stderr and again.returncode == 0


def test_requeue_of_many_rows_shows_a_bar_on_a_terminal(engine, settings, api_key):
    make_messages(engine, api_key[0].id, 12_000)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'unknown'"))
    result = run_cli(settings, "requeue", "--state", "unknown", tty=True)
    assert result.returncode == 0, result.stderr
    assert "requeued 12000 unknown messages" in result.stdout
    assert "12000/12000" in result.stderr and "100%|" in result.stderr  # tqdm's bar


def test_prune_reports_what_it_pruned(engine, settings, api_key):
    [message] = make_messages(engine, api_key[0].id, 1)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'delivered'"))
        conn.execute(text("INSERT INTO events (message_id, type, occurred_at) SELECT :m, "
                          "'opened', now() - interval '400 days' FROM generate_series(1, 30)"),
                     {"m": message})
    result = run_cli(settings, "prune", "--batch", "10")
    assert result.returncode == 0, result.stderr
    assert "pruned 30 events" in result.stdout
    assert "pruning: 30 rows" in result.stderr and "events=30" in result.stderr


def test_progress_lines_are_rate_limited_off_a_terminal():
    out = io.StringIO()
    with progress("work", 1000, stream=out) as bar:
        for _ in range(1000):
            bar.advance()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("work: 1000/1000 rows")
