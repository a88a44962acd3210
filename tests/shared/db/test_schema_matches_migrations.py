"""The tables declared in shared/db/tables/ are exactly what the migrations create.

First Alembic's autogenerate comparison of ``shared.db.tables.metadata``
with a freshly migrated database: a difference there (a table, column,
type, server default, index, unique or foreign key declared differently)
is a declaration that lies about the live schema, and ``alembic revision
--autogenerate`` would propose to "fix" it. Then what that comparison
cannot see: PostgreSQL's own text of every index and constraint (collations,
check constraints) in the migrated database and in one made from the
declarations. (``fresh_database``: tests/shared/db/conftest.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from pprint import pformat

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from shared.db.engine import make_engine
from shared.db.migrate import upgrade
from shared.db.tables import metadata

#: Reflection drops an index column's collation, so these indexes (on
#: ``to_addr COLLATE "C"``, ``address COLLATE "C"``) reflect as plain columns and
#: Alembic reports them removed and added again whatever is declared. Their
#: definitions are compared in full by the second test.
REFLECTS_WITHOUT_COLLATION = {"messages_campaign_recipient", "suppressions_prefix",
                              "suppressions_domain"}

DEFINITIONS = text(
    """
    SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || '.' || conname, pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    """
)


def _on(url: str, read: Callable[[Connection], object]):
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            return read(conn)
    finally:
        engine.dispose()


def _compare(conn: Connection) -> list:
    context = MigrationContext.configure(conn, opts={
        "compare_type": True,
        "compare_server_default": True,
        "include_object": lambda obj, name, kind, reflected, other:
            not (kind == "index" and name in REFLECTS_WITHOUT_COLLATION),
    })
    return compare_metadata(context, metadata)


def test_alembic_finds_no_difference_between_tables_and_migrations(fresh_database):
    url = fresh_database()
    upgrade(url)
    differences = _on(url, _compare)
    assert differences == [], "the tables and the migrations disagree:\n" + pformat(differences)


def test_indexes_and_constraints_read_the_same_as_the_migrations_make_them(fresh_database):
    migrated, declared = fresh_database(), fresh_database()
    upgrade(migrated)
    _on(declared, metadata.create_all)

    def definitions(conn: Connection) -> dict[str, str]:
        return dict(conn.execute(DEFINITIONS).all())

    made_by_migrations, made_by_tables = _on(migrated, definitions), _on(declared, definitions)
    made_by_migrations.pop("constraint alembic_version.alembic_version_pkc")
    made_by_migrations.pop("index alembic_version_pkc")
    differences = {name: (made_by_migrations.get(name), made_by_tables.get(name))
                   for name in made_by_migrations.keys() | made_by_tables.keys()
                   if made_by_migrations.get(name) != made_by_tables.get(name)}
    assert differences == {}, "(migrations, tables) disagree:\n" + pformat(differences)
