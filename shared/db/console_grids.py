"""Saved recipient grids (``console_grids``): create, update, read, list, delete; per key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.db.tables import console_grids


@dataclass(frozen=True)
class Grid:
    id: int
    name: str
    template_id: int | None
    columns: list[str]
    rows: list[list[str]]
    updated_at: datetime


def _grid(row) -> Grid:
    return Grid(row.id, row.name, row.template_id, list(row.columns), row.rows, row.updated_at)


def save_grid(conn: Connection, api_key_id: int, name: str, template_id: int | None,
              columns: list[str], rows: list[list[str]], grid_id: int | None = None
              ) -> Grid | None:
    """Insert (no ``grid_id``) or replace a grid; None when the name is taken or no such grid.

    Runs in a savepoint so a taken name leaves the caller's transaction usable.
    """
    values = {"name": name, "template_id": template_id, "columns": columns, "rows": rows}
    try:
        with conn.begin_nested():
            if grid_id is None:
                row = conn.execute(insert(console_grids).values(api_key_id=api_key_id, **values)
                                   .returning(console_grids)).one()
            else:
                row = conn.execute(
                    update(console_grids)
                    .where(console_grids.c.id == grid_id,
                           console_grids.c.api_key_id == api_key_id)
                    .values(updated_at=func.now(), **values).returning(console_grids)
                ).one_or_none()
    except IntegrityError:
        return None
    return _grid(row) if row else None


def get_grid(conn: Connection, api_key_id: int, grid_id: int) -> Grid | None:
    row = conn.execute(select(console_grids).where(
        console_grids.c.id == grid_id, console_grids.c.api_key_id == api_key_id)).one_or_none()
    return _grid(row) if row else None


def list_grids(conn: Connection, api_key_id: int) -> list[Grid]:
    rows = conn.execute(select(console_grids).where(console_grids.c.api_key_id == api_key_id)
                        .order_by(console_grids.c.updated_at.desc()))
    return [_grid(r) for r in rows]


def delete_grid(conn: Connection, api_key_id: int, grid_id: int) -> bool:
    result = conn.execute(delete(console_grids).where(
        console_grids.c.id == grid_id, console_grids.c.api_key_id == api_key_id))
    return result.rowcount == 1
