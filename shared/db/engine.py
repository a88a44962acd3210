"""Engine construction: one pool per process, made by its entry point."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine


def make_engine(database_url: str, *, pool_size: int = 5) -> Engine:
    """An engine whose pooled connections survive a PostgreSQL restart.

    ``pool_pre_ping`` replaces connections the server closed, so a restarted
    database costs one failed checkout, not a crash loop.
    """
    return create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )
