"""Local PostgreSQL and Redis (`mailpipe up`): passwords on TCP, kept in 0600 files."""

from __future__ import annotations

import stat

import psycopg
import pytest
import redis as redis_lib
from sqlalchemy.engine import make_url

from shared.runtime.localservers import start_postgres, start_redis


def test_postgres_refuses_tcp_without_the_generated_password(tmp_path):
    server = start_postgres(tmp_path / "postgres", fsync=False)
    try:
        url = make_url(server.url)
        password_file = tmp_path / "postgres.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert url.password == password_file.read_text().strip() and len(url.password) >= 24
        with psycopg.connect(host="127.0.0.1", port=url.port, user="mailpipe", dbname="postgres",
                             password=url.password) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        for wrong in (None, "wrong"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(host="127.0.0.1", port=url.port, user="mailpipe",
                                dbname="postgres", password=wrong, connect_timeout=5)
    finally:
        server.stop()


def test_a_cluster_made_with_trust_auth_is_locked_on_its_next_start(tmp_path):
    data = tmp_path / "postgres"
    start_postgres(data, fsync=False).stop()
    (data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n"
                                      "local all all trust\n")
    (tmp_path / "postgres.password").unlink()
    server = start_postgres(data, fsync=False)
    try:
        url = make_url(server.url)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=url.port, user="mailpipe",
                            dbname="postgres", connect_timeout=5)
        with psycopg.connect(host="127.0.0.1", port=url.port, user="mailpipe", dbname="postgres",
                             password=url.password):
            pass
    finally:
        server.stop()


def test_redis_requires_the_generated_password_which_is_not_on_its_command_line(tmp_path):
    server = start_redis(tmp_path / "redis")
    try:
        password = (tmp_path / "redis.password").read_text().strip()
        assert stat.S_IMODE((tmp_path / "redis.password").stat().st_mode) == 0o600
        assert server.url == f"redis://:{password}@127.0.0.1:{server.port}/0"
        assert redis_lib.Redis.from_url(server.url).ping()
        with pytest.raises(redis_lib.AuthenticationError):
            redis_lib.Redis(host="127.0.0.1", port=server.port).ping()
        assert password not in " ".join(server.process.args)
        # A restart reuses the same password.
        port = server.port
        server.stop()
        server = start_redis(tmp_path / "redis", port=port)
        assert redis_lib.Redis.from_url(server.url).ping()
        assert password in server.url
    finally:
        server.stop()
