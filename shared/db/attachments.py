"""Attachment rows: bytes stored once per distinct content, linked to contents."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import BigInteger

from shared.db.tables import attachment_blobs, content_attachments
from shared.intake.attachments import Attachment


def _blob_ids(conn: Connection, attachments: tuple[Attachment, ...]) -> list[int]:
    """The blob id of each attachment, inserting only the contents not stored yet.

    Existing hashes are looked up first so a file attached to every request
    is not shipped to the database again. ON CONFLICT DO NOTHING covers a
    concurrent request storing the same bytes: the second lookup finds its
    row once that transaction commits (the insert waits for it).
    """
    digests = [hashlib.sha256(a.data).hexdigest() for a in attachments]
    # FOR KEY SHARE: retention does not delete a blob about to be linked
    # (shared.db.retention.prune_contents skips locked blobs).
    lookup = select(attachment_blobs.c.sha256, attachment_blobs.c.id).where(
        attachment_blobs.c.sha256.in_(bindparam("digests", expanding=True))
    ).with_for_update(key_share=True)
    known = dict(conn.execute(lookup, {"digests": digests}).all())
    missing = {d: a for d, a in zip(digests, attachments, strict=True) if d not in known}
    for digest, attachment in missing.items():
        conn.execute(
            pg_insert(attachment_blobs)
            .values(sha256=digest, size=len(attachment.data), data=attachment.data)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
    if missing:
        known.update(conn.execute(lookup, {"digests": list(missing)}).all())
    return [known[d] for d in digests]


def store_attachments(
    conn: Connection, content_id: int, attachments: tuple[Attachment, ...]
) -> None:
    """Link ``attachments`` to a content, in order, in the caller's transaction."""
    if not attachments:
        return
    blob_ids = _blob_ids(conn, attachments)
    conn.execute(
        insert(content_attachments),
        [
            {"content_id": content_id, "position": n, "blob_id": blob_id,
             "filename": a.filename, "content_type": a.content_type,
             "content_ref": a.content_ref, "inline": a.inline}
            for n, (a, blob_id) in enumerate(zip(attachments, blob_ids, strict=True))
        ],
    )


_LOAD = text(
    """
    SELECT ca.content_id, ca.filename, ca.content_type, ca.content_ref, b.id AS blob_id, b.data
      FROM content_attachments ca JOIN attachment_blobs b ON b.id = ca.blob_id
     WHERE ca.content_id = ANY(:content_ids)
     ORDER BY ca.content_id, ca.position
    """
).bindparams(bindparam("content_ids", type_=ARRAY(BigInteger)))


def load_attachments(
    conn: Connection, content_ids: list[int]
) -> dict[int, tuple[Attachment, ...]]:
    """The attachments of each content; a blob shared by several is held in memory once."""
    if not content_ids:
        return {}
    found: dict[int, list[Attachment]] = {}
    blobs: dict[int, bytes] = {}
    for row in conn.execute(_LOAD, {"content_ids": content_ids}):
        data = blobs.setdefault(row.blob_id, bytes(row.data))
        found.setdefault(row.content_id, []).append(
            Attachment(row.filename, row.content_type, data, row.content_ref)
        )
    return {content_id: tuple(items) for content_id, items in found.items()}



