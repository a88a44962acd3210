"""Databases of their own, for tests that migrate a schema step by step."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shared.db.engine import make_engine


@pytest.fixture
def fresh_database(postgres) -> Iterator[Callable[[], str]]:
    """Makes new, empty databases on the suite's PostgreSQL server; drops them afterwards."""
    server = make_engine(postgres.url, pool_size=1)
    made: list[str] = []

    def make() -> str:
        made.append(f"schema_check_{uuid.uuid4().hex[:12]}")
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{made[-1]}"'))
        return make_url(postgres.url).set(database=made[-1]).render_as_string(False)

    yield make
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    server.dispose()
