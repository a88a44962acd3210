"""Everything that talks SQL: tables, engine, migrations and named queries."""
