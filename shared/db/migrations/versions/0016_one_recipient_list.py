"""one recipient list: the console's grids become recipient lists

Revision ID: 0016
Revises: 0015

Hand-written. ``recipient_lists`` gains what a grid had beside its rows
(``template_id``, the template whose variables the grid shows; ``updated_at``,
when it was last saved) and every ``console_grids`` row moves into it, then
``console_grids`` is dropped: ``/v1/lists`` and ``/ui/grids`` read one store.

A grid kept its rows as cells as typed (``[["Name <a@b>", "v"], ...]``); a
list keeps each row as the address, its display name and ``{column: value}``,
checked. Each grid's rows are read by the intake's own parser
(``normalize_recipient``, imported only when there is a grid to move, so a
new database never needs it) and stored as ``POST /v1/lists`` stores them:
blank rows skipped, an address given twice kept once (its first row) and
counted in ``duplicates``. A row whose email cell the intake refuses could
never have been sent (a plan from that grid was refused whole); it is left
out and logged with its grid and row number. A grid gets a new id (the two
tables numbered apart), its name, template, columns, values, display names
and times stay.

Downgrade recreates ``console_grids`` from every list of at most 20,000 rows
(the grid's limit), cells written back as ``Name <a@b>`` text; lists stay
lists. Names made unique per key again (the grid's index) by adding
`` (id)`` to a later list of the same name.
"""
import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger("mailpipe.migrations")

#: Rows inserted per statement.
BATCH = 1000
#: The most rows a console grid held (services/console/pages/grids.py's MAX_ROWS).
GRID_ROWS = 20_000

lists = sa.table(
    "recipient_lists",
    sa.column("id", sa.BigInteger), sa.column("api_key_id", sa.BigInteger),
    sa.column("name", sa.Text), sa.column("columns", postgresql.ARRAY(sa.Text)),
    sa.column("total", sa.Integer), sa.column("duplicates", sa.Integer),
    sa.column("template_id", sa.BigInteger),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
list_rows = sa.table(
    "recipient_list_rows",
    sa.column("list_id", sa.BigInteger), sa.column("seq", sa.Integer),
    sa.column("email", sa.Text), sa.column("name", sa.Text),
    sa.column("values", postgresql.JSONB),
)
grids = sa.table(
    "console_grids",
    sa.column("id", sa.BigInteger), sa.column("api_key_id", sa.BigInteger),
    sa.column("name", sa.Text), sa.column("template_id", sa.BigInteger),
    sa.column("columns", postgresql.ARRAY(sa.Text)), sa.column("rows", postgresql.JSONB),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _now():
    return sa.text("now()")


def upgrade() -> None:
    op.add_column("recipient_lists", sa.Column("template_id", sa.BigInteger(), nullable=True))
    op.add_column("recipient_lists", sa.Column("updated_at", sa.DateTime(timezone=True),
                                               server_default=_now(), nullable=False))
    conn = op.get_bind()
    conn.execute(sa.update(lists).values(updated_at=lists.c.created_at))
    grid_ids = conn.execute(sa.select(grids.c.id).order_by(grids.c.id)).scalars().all()
    if grid_ids:
        from shared.intake.campaigns import normalize_recipient  # noqa: PLC0415 (see above)

        for grid_id in grid_ids:
            _move_grid(conn, grid_id, normalize_recipient)
    op.drop_table("console_grids")


def _move_grid(conn, grid_id: int, normalize_recipient) -> None:
    """One grid as a list: its checked, de-duplicated rows in order, ``seq`` 1..n."""
    grid = conn.execute(sa.select(grids).where(grids.c.id == grid_id)).one()
    columns = list(grid.columns)
    email_at = columns.index("email") if "email" in columns else None
    values_at = [(i, name) for i, name in enumerate(columns) if name != "email"]
    seen: set[str] = set()
    rows: list[dict] = []
    duplicates = 0
    for number, cells in enumerate(grid.rows, start=1):
        cells = ["" if c is None else str(c) for c in cells]
        if not any(c.strip() for c in cells):
            continue
        try:
            recipient = normalize_recipient(
                cells[email_at] if email_at is not None and email_at < len(cells) else "")
        except ValueError as exc:  # AddressError
            log.warning("grid %s (%r), row %s: %s; left out of its list", grid.id, grid.name,
                        number, exc)
            continue
        if recipient.address in seen:
            duplicates += 1
            continue
        seen.add(recipient.address)
        rows.append({"seq": len(seen), "email": recipient.address, "name": recipient.name,
                     "values": {name: cells[i] if i < len(cells) else ""
                                for i, name in values_at}})
    list_id = conn.execute(sa.insert(lists).values(
        api_key_id=grid.api_key_id, name=grid.name, columns=[n for _, n in values_at],
        total=len(rows), duplicates=duplicates, template_id=grid.template_id,
        created_at=grid.created_at, updated_at=grid.updated_at).returning(lists.c.id)
    ).scalar_one()
    for start in range(0, len(rows), BATCH):
        conn.execute(sa.insert(list_rows),
                     [{"list_id": list_id, **row} for row in rows[start:start + BATCH]])


def downgrade() -> None:
    op.create_table(
        "console_grids",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("api_key_id", sa.BigInteger(),
                  sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=True),
        sa.Column("columns", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("rows", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("console_grids_name", "console_grids", ["api_key_id", "name"], unique=True)
    conn = op.get_bind()
    kept = conn.execute(sa.select(lists.c.id).where(lists.c.total <= GRID_ROWS)
                        .order_by(lists.c.id)).scalars().all()
    if kept:
        from shared.intake.addresses import mailbox_text  # noqa: PLC0415 (see upgrade)

        names: set[tuple[int, str]] = set()
        for list_id in kept:
            _grid_of(conn, list_id, names, mailbox_text)
    op.drop_column("recipient_lists", "updated_at")
    op.drop_column("recipient_lists", "template_id")


def _grid_of(conn, list_id: int, names: set[tuple[int, str]], mailbox_text) -> None:
    """One list written as a grid: ``email`` first, then its columns; cells as text."""
    stored = conn.execute(sa.select(lists).where(lists.c.id == list_id)).one()
    name = stored.name
    while (stored.api_key_id, name) in names:
        name = f"{name} ({stored.id})"
    names.add((stored.api_key_id, name))
    columns = list(stored.columns)
    rows = [[mailbox_text(row.email, row.name), *(str(row.values.get(c, "")) for c in columns)]
            for row in conn.execute(sa.select(list_rows).where(list_rows.c.list_id == list_id)
                                    .order_by(list_rows.c.seq))]
    conn.execute(sa.insert(grids).values(
        api_key_id=stored.api_key_id, name=name, template_id=stored.template_id,
        columns=["email", *columns], rows=rows, created_at=stored.created_at,
        updated_at=stored.updated_at))
