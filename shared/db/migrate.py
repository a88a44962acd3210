"""Schema migrations (Alembic), run by `mailpipe migrate`, `mailpipe up` and tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads",
            on_step: Callable[[str], None] | None = None) -> None:
    """Bring the schema up to ``revision``; safe to run from several processes at once.

    "heads" rather than "head": features developed side by side may add
    migrations on parallel branches until they are merged.
    ``on_step(revision)`` is called after each migration is applied.
    """
    config = alembic_config(database_url)
    if on_step:
        config.attributes["on_version_apply"] = (
            lambda step, **kw: on_step(step.up_revision_id or ""))
    command.upgrade(config, revision)


def pending_revisions(database_url: str) -> list[str]:
    """Revisions ``upgrade`` would apply, oldest first (for progress)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from shared.db.engine import make_engine

    script = ScriptDirectory.from_config(alembic_config(database_url))
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    return [r.revision for r in reversed(list(
        script.iterate_revisions("heads", current or "base")))]
