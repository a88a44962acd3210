"""The scheduler's import of SES's account-level suppression list (ListSuppressedDestinations).

SES refuses nothing it has on that list: it accepts the send and bounces it
(``OnAccountSuppressionList``), which costs the send and counts against the
account's bounce rate. So mailpipe reads the list as a source and suppresses
each address for every key (``shared.db.suppressions.suppress_for_every_key``),
and a message to one ends ``suppressed`` instead of being tried.

Incremental: each run asks only for entries SES updated since the cursor
(``import_cursors``, in PostgreSQL: the truth survives a flushed Redis), up to
the moment the run began, page after page; the cursor moves only once every
page is stored, to that moment less ``OVERLAP`` (SES's clock and ours may
differ; an entry read twice changes nothing). A run that fails leaves the
cursor where it was: the next one reads the same window again. Two schedulers
running it at once insert the same rows (ON CONFLICT DO NOTHING) and leave the
later cursor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from shared.db.suppressions import advance_import_cursor, import_cursor, suppress_for_every_key
from shared.ses.account import SesUnavailable, pages

log = logging.getLogger("mailpipe.scheduler")

#: The cursor's name in ``import_cursors``.
SOURCE = "ses-suppressions"
#: Read again each time: SES's LastUpdateTime and our clock may disagree by this much.
OVERLAP = timedelta(minutes=5)
#: SES's reasons → mailpipe's.
REASONS = {"BOUNCE": "bounce", "COMPLAINT": "complaint"}
PAGE_SIZE = 1000


def import_account_suppressions(
    client, engine: Engine, *, page_pause: float = 1.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int | None:
    """One run: the entries SES updated since the cursor, suppressed for every key; how
    many (key, address) entries were new, or None when SES could not be read.
    ``page_pause``: seconds between pages (SES allows one list call a second)."""
    with engine.connect() as conn:
        since = import_cursor(conn, SOURCE)
    until = now()
    params = {"EndDate": until, "PageSize": PAGE_SIZE, **({"StartDate": since} if since else {})}
    added = read = 0
    try:
        for answer in pages(client, "ListSuppressedDestinations",
                            "list_suppressed_destinations", **params):
            entries = [(e["EmailAddress"], REASONS.get(e.get("Reason"), "bounce"))
                       for e in answer.get("SuppressedDestinationSummaries", [])
                       if "@" in e.get("EmailAddress", "")]
            read += len(entries)
            with engine.begin() as conn:
                added += suppress_for_every_key(conn, entries)
            if answer.get("NextToken"):
                time.sleep(page_pause)
    except SesUnavailable as exc:
        log.warning("SES's account suppression list could not be read (%s: %s); the next run "
                    "reads from %s again", exc.reason, exc.detail, since or "the start")
        return None
    with engine.begin() as conn:
        advance_import_cursor(conn, SOURCE, until - OVERLAP)
    if read:
        log.info("SES's account suppression list: %d addresses updated since %s, %d new "
                 "suppressions", read, since or "the start", added)
    return added
