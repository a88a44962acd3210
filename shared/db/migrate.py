"""Schema migrations (Alembic), run by `mailpipe migrate`, `mailpipe up` and tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Bring the schema up to ``revision``; safe to run from several processes at once.

    "heads" rather than "head": features developed side by side may add
    migrations on parallel branches until they are merged.
    """
    command.upgrade(alembic_config(database_url), revision)
