"""Template rows: create, read, list, update (a new version), delete (hidden).

Every function is scoped to one API key: another key's template is "not
there". Versions are immutable; an update inserts version n+1 and moves
``templates.version`` under the template's row lock, so two updates at once
make two versions, never one lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db.tables import template_versions, templates
from shared.rendering.mustache import TemplateSource


@dataclass(frozen=True)
class TemplateRow:
    id: int
    name: str
    version: int
    subject: str
    html: str
    text: str | None
    variables: list[str]
    created_at: datetime
    updated_at: datetime

    @property
    def source(self) -> TemplateSource:
        return TemplateSource(self.subject, self.html, self.text)


def _select(api_key_id: int, version=None):
    """Templates of the key joined to ``version`` (default: the current one)."""
    wanted = templates.c.version if version is None else version
    return (
        select(
            templates.c.id, templates.c.name, template_versions.c.version,
            template_versions.c.subject, template_versions.c.html, template_versions.c.text,
            template_versions.c.variables, templates.c.created_at,
            template_versions.c.created_at.label("updated_at"),
        )
        .select_from(templates.join(template_versions, and_(
            template_versions.c.template_id == templates.c.id,
            template_versions.c.version == wanted,
        )))
        .where(templates.c.api_key_id == api_key_id, templates.c.deleted_at.is_(None))
    )


def _insert_version(conn: Connection, template_id: int, version: int,
                    source: TemplateSource) -> None:
    conn.execute(insert(template_versions).values(
        template_id=template_id, version=version, subject=source.subject, html=source.html,
        text=source.text, variables=source.variables(),
    ))


def create_template(
    conn: Connection, api_key_id: int, name: str, source: TemplateSource
) -> TemplateRow | None:
    """Insert a template at version 1; None when the key already has one of that name."""
    template_id = conn.execute(
        pg_insert(templates)
        .values(api_key_id=api_key_id, name=name)
        .on_conflict_do_nothing(index_elements=["api_key_id", "name"],
                                index_where=templates.c.deleted_at.is_(None))
        .returning(templates.c.id)
    ).scalar_one_or_none()
    if template_id is None:
        return None
    _insert_version(conn, template_id, 1, source)
    return get_template(conn, api_key_id, template_id)


def get_template(
    conn: Connection, api_key_id: int, template_id: int, version: int | None = None
) -> TemplateRow | None:
    """The template at ``version`` (default: current), or None if the key has no such one."""
    row = conn.execute(
        _select(api_key_id, version).where(templates.c.id == template_id)
    ).one_or_none()
    return TemplateRow(*row) if row else None


def list_templates(
    conn: Connection, api_key_id: int, *, after: int = 0, limit: int = 100
) -> list[TemplateRow]:
    """The key's templates (current versions) with id > ``after``, oldest first."""
    rows = conn.execute(
        _select(api_key_id).where(templates.c.id > after).order_by(templates.c.id).limit(limit)
    )
    return [TemplateRow(*r) for r in rows]


def name_taken(conn: Connection, api_key_id: int, name: str, except_id: int) -> bool:
    return conn.execute(
        select(func.count()).where(
            templates.c.api_key_id == api_key_id, templates.c.name == name,
            templates.c.deleted_at.is_(None), templates.c.id != except_id,
        )
    ).scalar_one() > 0


def update_template(
    conn: Connection, api_key_id: int, template_id: int, name: str, source: TemplateSource
) -> TemplateRow | None:
    """Add version n+1 with ``source`` and make it current; None if there is no such template.

    Locks the template row (``FOR UPDATE``) for the rest of the caller's
    transaction. The caller checks ``name_taken`` first; the unique index
    still refuses a race between two renames.
    """
    current = conn.execute(
        select(templates.c.version).where(
            templates.c.id == template_id, templates.c.api_key_id == api_key_id,
            templates.c.deleted_at.is_(None),
        ).with_for_update()
    ).scalar_one_or_none()
    if current is None:
        return None
    _insert_version(conn, template_id, current + 1, source)
    conn.execute(
        update(templates).where(templates.c.id == template_id)
        .values(version=current + 1, name=name, updated_at=func.now())
    )
    return get_template(conn, api_key_id, template_id)


def delete_template(conn: Connection, api_key_id: int, template_id: int) -> bool:
    """Hide the template (its versions stay for what already uses them); False if none."""
    result = conn.execute(
        update(templates)
        .where(templates.c.id == template_id, templates.c.api_key_id == api_key_id,
               templates.c.deleted_at.is_(None))
        .values(deleted_at=func.now())
    )
    return result.rowcount == 1
