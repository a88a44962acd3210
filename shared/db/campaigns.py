"""Campaign rows: creation with its recipient grid, expansion, pause/resume/cancel, progress.

The recipient grid (``campaign_recipients``) is written once, at creation,
through COPY into a temporary table and one de-duplicating INSERT. The
scheduler later turns it into ``messages`` rows batch by batch; the batch
and the cursor (``campaigns.expanded``) commit together, and the unique
index ``messages_campaign_recipient`` makes a replayed batch insert nothing,
so a crash at any point leaves neither a gap nor a duplicate.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, insert, select, text, update

from shared.db.outbox import complete_campaigns, emit_state_changes
from shared.db.suppressions import suppressed_error
from shared.db.tables import campaigns, contents
from shared.db.templates import TemplateRow
from shared.intake.requests import CampaignRequest
from shared.sources import MessageSource
from shared.states import UNCLAIMED, CampaignStatus, sql_list
from shared.states import MessageState as S

#: ``due_at`` of the rows of a paused campaign: the dispatch query never
#: reaches it; resume sets it back to now. (Not 'infinity': psycopg cannot
#: load it into a datetime.)
HELD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)


#: What a CampaignRequest stores by name on its campaign row.
_CAMPAIGN_FIELDS = frozenset(campaigns.c.keys())


def insert_campaign(conn: Connection, api_key_id: int, campaign: CampaignRequest,
                    template: TemplateRow) -> int:
    """Insert the campaign's content, pinned to ``template``'s version, and the campaign
    (no recipients yet); its id. ``campaign`` has its sender already (shared.intake)."""
    content_id = conn.execute(
        insert(contents)
        .values(api_key_id=api_key_id, subject=template.subject, html=template.html,
                text=template.text, reply_to=campaign.reply_to, template_id=template.id,
                template_version=template.version,
                # Campaigns are bulk mail: one-click List-Unsubscribe (RFC 8058).
                bulk=True)
        .returning(contents.c.id)
    ).scalar_one()
    # An unscheduled campaign starts now (the column's default).
    values = campaign.model_dump(include=_CAMPAIGN_FIELDS, exclude_none=True)
    return conn.execute(
        insert(campaigns)
        .values(api_key_id=api_key_id, **values, template_version=template.version,
                content_id=content_id, total=0)
        .returning(campaigns.c.id)
    ).scalar_one()


class RecipientWriter:
    """Streams validated recipients into the upload table.

    Rows go as COPY ... CSV text in chunks of about a megabyte: the C csv
    writer and one ``write`` per chunk cost far less per row than building
    JSON or adapting a tuple per row, and memory stays flat.
    """

    CHUNK = 1 << 20

    def __init__(self, copy) -> None:
        self._copy = copy
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self.count = 0

    def write(self, row_number: int, email: str, name: str | None,
              values: Iterable[str]) -> None:
        """One recipient and its display name; ``values`` in the order of the upload's
        variables."""
        # COPY's CSV reads an unquoted empty field as NULL: no name is None, not "".
        self._csv.writerow((row_number, email, name or "", *values))
        self.count += 1
        if self._buffer.tell() > self.CHUNK:
            self.flush()

    def flush(self) -> None:
        self._copy.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()


@contextmanager
def recipient_upload(conn: Connection, variables: int) -> Iterator[RecipientWriter]:
    """COPY rows into a temporary table that lives until the caller's transaction ends.

    The table has one text column per template variable (``v0``..); the
    values become JSON only in ``store_recipients``, inside PostgreSQL.
    """
    columns = "".join(f", v{i} text" for i in range(variables))
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE campaign_upload (row_number int, email text COLLATE \"C\", "
        f"name text{columns})"
        " ON COMMIT DROP"
    )
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy("COPY campaign_upload FROM STDIN WITH (FORMAT csv)") as copy:
            writer = RecipientWriter(copy)
            yield writer
            writer.flush()
    finally:
        cursor.close()


def _store_recipients_sql(variables: int):
    pairs = ", ".join(f"CAST(:name{i} AS text), v{i}" for i in range(variables))
    return text(
        f"""
        WITH firsts AS (
            SELECT DISTINCT ON (email) *
              FROM campaign_upload
             ORDER BY email, row_number
        ), stored AS (
            INSERT INTO campaign_recipients (campaign_id, seq, email, name, variables)
            SELECT :campaign_id, row_number() OVER (ORDER BY row_number), email, name,
                   jsonb_build_object({pairs})
              FROM firsts
            RETURNING 1
        )
        UPDATE campaigns
           SET total = (SELECT count(*) FROM stored),
               duplicates = :uploaded - (SELECT count(*) FROM stored)
         WHERE id = :campaign_id
        RETURNING total, duplicates
        """
    )


def store_recipients(
    conn: Connection, campaign_id: int, uploaded: int, variables: list[str]
) -> tuple[int, int]:
    """Move the uploaded rows into the grid, first occurrence of each address wins.

    Seq numbers run 1..total in upload order; each row's values become one
    JSON object keyed by ``variables``. Returns (total, duplicates). Two
    sorts of the upload; ``work_mem`` is raised for this transaction only so
    that a million rows sort in memory rather than on disk. The grid is
    analyzed so that expansion's range scans are planned on real numbers.
    """
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    params = {"campaign_id": campaign_id, "uploaded": uploaded,
              **{f"name{i}": name for i, name in enumerate(variables)}}
    row = conn.execute(_store_recipients_sql(len(variables)), params).one()
    conn.exec_driver_sql("ANALYZE campaign_recipients")
    return tuple(row)


#: Unsent rows of campaign ``c``, counted no further than the window.
_UNSENT = f"""SELECT count(*) AS unsent
                 FROM (SELECT 1 FROM messages m
                        WHERE m.campaign_id = c.id AND m.state IN ({sql_list(UNCLAIMED)})
                        LIMIT :window) window_rows"""


def _pick_campaign(windowed: bool):
    # Counted once per campaign, in a LATERAL aggregate (which PostgreSQL
    # cannot inline), rather than once for the select list and again for the
    # filter: the count reads up to a window of index entries, every second
    # while a campaign sends.
    return text(
        f"""
        SELECT c.id, c.expanded, c.total, u.unsent
          FROM campaigns c
         CROSS JOIN LATERAL ({_UNSENT if windowed else "SELECT 0 AS unsent"}) u
         WHERE c.status = '{CampaignStatus.ACTIVE}' AND c.expanded < c.total
           AND c.scheduled_at <= now()
           {"AND u.unsent < :window" if windowed else ""}
         ORDER BY c.scheduled_at, c.id
         LIMIT 1
           FOR UPDATE OF c SKIP LOCKED
        """
    )


_PICK_CAMPAIGN = _pick_campaign(windowed=True)
_PICK_CAMPAIGN_UNWINDOWED = _pick_campaign(windowed=False)

_EXPAND = text(
    f"""
    WITH inserted AS (
        INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, to_name,
                              state, error, scheduled_at, due_at, campaign_id, variables,
                              source)
        SELECT c.api_key_id, c.content_id, c.topic_id, c.from_addr, r.email, r.name,
               CASE WHEN s.address IS NULL THEN '{S.QUEUED}' ELSE '{S.SUPPRESSED}' END,
               CASE WHEN s.address IS NOT NULL THEN {suppressed_error("s")} END,
               c.scheduled_at, now() + make_interval(secs => :queue_timeout), c.id, r.variables,
               '{MessageSource.CAMPAIGN}'
          FROM campaigns c
          JOIN campaign_recipients r ON r.campaign_id = c.id
          LEFT JOIN suppressions s ON s.api_key_id = c.api_key_id
                                  AND s.address = lower(r.email)
         WHERE c.id = :campaign_id AND r.seq > :after AND r.seq <= :upto
         ORDER BY r.seq
            ON CONFLICT (campaign_id, to_addr COLLATE "C") WHERE campaign_id IS NOT NULL
            DO NOTHING
        RETURNING id, state
    )
    SELECT count(*) AS inserted,
           COALESCE(array_agg(id ORDER BY id) FILTER (WHERE state = '{S.QUEUED}'), '{{}}')
               AS queued,
           COALESCE(array_agg(id ORDER BY id) FILTER (WHERE state = '{S.SUPPRESSED}'), '{{}}')
               AS suppressed
      FROM inserted
    """
)


@dataclass(frozen=True)
class ExpandedBatch:
    campaign_id: int
    inserted: int
    expanded: int
    total: int
    #: The batch's ``queued`` rows, to enqueue once the batch has committed.
    queued: list[int]


def expand_next_batch(conn: Connection, *, batch: int, window: int,
                      queue_timeout: float) -> ExpandedBatch | None:
    """Turn the next recipients of one due campaign into ``queued`` rows.

    At most ``batch`` rows, and only while the campaign has fewer than
    ``window`` unsent rows (counted through messages_campaign_unsent), so
    the list is expanded as it is sent, not all at once; ``window`` 0
    expands the whole list as soon as it is due.

    Locks the campaign row (FOR UPDATE SKIP LOCKED), so two schedulers
    expand different campaigns, and pause/cancel wait for the batch to
    commit. Inserts and the cursor move commit together in the caller's
    transaction; ON CONFLICT DO NOTHING makes a batch replayed after a lost
    cursor insert nothing. The rows are inserted ``queued``, as intake
    inserts a message due now: the caller enqueues ``queued`` after the
    commit, and if that enqueue is lost the dispatch step takes the rows
    again after ``queue_timeout``. Recipients on the key's suppression list
    are inserted ``suppressed`` instead (a join in the same INSERT, not a
    lookup per row), so they take no room in the window and never reach the
    conveyor: a ``message.suppressed`` each in the outbox; the last batch may
    complete the campaign (``shared.db.outbox``). None when no campaign is due
    (or each due one has a full window).
    """
    if window:
        picked = conn.execute(_PICK_CAMPAIGN, {"window": window}).one_or_none()
    else:
        picked = conn.execute(_PICK_CAMPAIGN_UNWINDOWED).one_or_none()
    if picked is None:
        return None
    room = window - picked.unsent if window else batch
    upto = min(picked.total, picked.expanded + batch, picked.expanded + room)
    inserted, queued, suppressed = conn.execute(
        _EXPAND, {"campaign_id": picked.id, "after": picked.expanded, "upto": upto,
                  "queue_timeout": queue_timeout}
    ).one()
    conn.execute(
        update(campaigns).where(campaigns.c.id == picked.id)
        .values(expanded=upto, updated_at=func.now())
    )
    emit_state_changes(conn, dict.fromkeys(suppressed, S.SUPPRESSED))
    if upto == picked.total:
        complete_campaigns(conn, [picked.id])
    return ExpandedBatch(picked.id, inserted, upto, picked.total, queued)


@dataclass(frozen=True)
class CampaignRow:
    id: int
    name: str
    topic_id: str
    template_id: int
    template_version: int
    from_addr: str
    status: str
    scheduled_at: datetime
    total: int
    duplicates: int
    expanded: int
    created_at: datetime
    updated_at: datetime


def _campaign_select(api_key_id: int):
    c = campaigns.c
    return select(
        c.id, c.name, c.topic_id, c.template_id, c.template_version, c.from_addr, c.status,
        c.scheduled_at, c.total, c.duplicates, c.expanded, c.created_at, c.updated_at,
    ).where(c.api_key_id == api_key_id)


def get_campaign(
    conn: Connection, api_key_id: int, campaign_id: int, *, for_update: bool = False
) -> CampaignRow | None:
    query = _campaign_select(api_key_id).where(campaigns.c.id == campaign_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    return CampaignRow(*row) if row else None


def list_campaigns(
    conn: Connection, api_key_id: int, *, after: int = 0, limit: int = 100
) -> list[CampaignRow]:
    rows = conn.execute(
        _campaign_select(api_key_id).where(campaigns.c.id > after)
        .order_by(campaigns.c.id).limit(limit)
    )
    return [CampaignRow(*r) for r in rows]


def message_counts(conn: Connection, campaign_id: int) -> dict[str, int]:
    """Messages of the campaign per state (through messages_campaign_recipient)."""
    rows = conn.execute(
        text("SELECT state, count(*) FROM messages WHERE campaign_id = :id GROUP BY state"),
        {"id": campaign_id},
    )
    return dict(rows.all())


def set_status(conn: Connection, campaign_id: int, status: str) -> None:
    conn.execute(
        update(campaigns).where(campaigns.c.id == campaign_id)
        .values(status=status, updated_at=func.now())
    )


_HOLD = text(
    f"""
    UPDATE messages
       SET state = '{S.CREATED}', due_at = :held, updated_at = now()
     WHERE campaign_id = :id AND state IN ({sql_list(UNCLAIMED)})
    """
)


def hold_messages(conn: Connection, campaign_id: int) -> int:
    """Take the campaign's unclaimed rows off the conveyor; returns how many (at most
    the expansion window: they are found through messages_campaign_unsent).

    ``queued`` rows go back to ``created``: their queue messages may still be
    delivered, but a sender's claim needs ``queued`` and so drops them. Rows
    already ``sending`` finish. Call with the campaign row locked.
    """
    return conn.execute(_HOLD, {"id": campaign_id, "held": HELD_UNTIL}).rowcount


_RELEASE = text(
    f"""
    UPDATE messages
       SET due_at = now(), updated_at = now()
     WHERE campaign_id = :id AND state = '{S.CREATED}' AND due_at = :held
    """
)


def release_messages(conn: Connection, campaign_id: int) -> int:
    """Make the rows ``hold_messages`` held due now, for the dispatch step to queue.

    A campaign whose messages all ended while it was paused completes here."""
    released = conn.execute(_RELEASE, {"id": campaign_id, "held": HELD_UNTIL}).rowcount
    complete_campaigns(conn, [campaign_id])
    return released


_CANCEL = text(
    f"""
    UPDATE messages
       SET state = '{S.CANCELLED}', error = 'campaign cancelled', updated_at = now()
     WHERE campaign_id = :id AND state IN ({sql_list(UNCLAIMED)})
    """
)


def cancel_messages(conn: Connection, campaign_id: int) -> int:
    """Cancel the campaign's unclaimed rows (a claimed one is sent); returns how many."""
    return conn.execute(_CANCEL, {"id": campaign_id}).rowcount


_CANCEL_TOPIC = text(
    f"""
    UPDATE campaigns
       SET status = '{CampaignStatus.CANCELLED}', updated_at = now()
     WHERE api_key_id = :api_key_id AND topic_id = :topic_id
       AND status <> '{CampaignStatus.CANCELLED}'
    """
)


def cancel_topic_campaigns(conn: Connection, api_key_id: int, topic_id: str) -> int:
    """Cancel the key's campaigns of ``topic_id`` (active or paused); returns how many.

    Their unexpanded recipients are then never expanded. Leaves their message
    rows alone: cancel those afterwards, in the same transaction. Row locks
    make that order safe: this UPDATE waits for an expansion batch in flight
    (``expand_next_batch`` holds the campaign row until its rows commit), so
    the next statement sees that batch's rows; and once this has run, the
    expansion step skips the locked row, then finds it cancelled.
    """
    return conn.execute(_CANCEL_TOPIC, {"api_key_id": api_key_id, "topic_id": topic_id}).rowcount
