"""Alembic environment: the URL comes from the Config built by shared.db.migrate.

``target_metadata`` is ``shared.db.tables.metadata``, which holds every table,
so an autogenerate compares the whole schema (tests/shared/db/
test_schema_matches_migrations.py keeps it without differences).
"""

from alembic import context

from shared.db.engine import make_engine
from shared.db.tables import metadata

config = context.config
engine = make_engine(config.get_main_option("sqlalchemy.url"), pool_size=1)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      compare_server_default=True,
                      on_version_apply=config.attributes.get("on_version_apply"))
    with context.begin_transaction():
        # Two processes migrating at once (two `mailpipe up`, a compose
        # restart) must not both create tables: serialise on an advisory lock.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727272)")
        context.run_migrations()
engine.dispose()
