"""Campaigns (send plans): the rules between a request and the stored recipient grid.

A campaign is a template version, a topic, a time and a list of recipients
with their values. Creation is all or nothing: every row is checked while it
streams into the database, and if any is bad the transaction is rolled back
and the answer lists the bad rows by number. Rows are never held in memory,
so a million-row CSV costs the API the same memory as a ten-row one.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, Engine

from shared.db.audit import Actor, record
from shared.db.campaigns import (
    CampaignRow,
    cancel_messages,
    get_campaign,
    hold_messages,
    insert_campaign,
    message_counts,
    recipient_upload,
    release_messages,
    set_status,
    store_recipients,
)
from shared.db.keys import ApiKey
from shared.db.templates import get_template
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.i18n import Text, ntext
from shared.intake.addresses import AddressError, NamedAddress, parse_mailbox
from shared.intake.csvtext import csv_lines
from shared.intake.idempotency import Idempotency, first_answer, remember
from shared.intake.requests import CampaignRequest
from shared.intake.rules import sender_for
from shared.rendering.mustache import recipient_values
from shared.settings import Settings
from shared.states import PENDING, CampaignStatus
from shared.states import MessageState as S

#: Bad rows listed in a rejection; the count covers them all.
MAX_REPORTED_ROWS = 100


@dataclass(frozen=True)
class Row:
    """One recipient as given, and where it came from (for errors).

    ``kind`` is "row" for a CSV row or a grid's (numbered as a spreadsheet or
    the grid shows it) or "index" for a JSON list item; ``cell_error`` says
    why a CSV row could not even be split into its columns; ``recipient`` is
    the ``email`` field already checked (a saved list's row), so it is not
    parsed again.
    """

    kind: str
    number: int
    fields: dict[str, Any]
    cell_error: Text | None = None
    recipient: NamedAddress | None = None

    @property
    def where(self) -> Text | str:
        """``row 7`` in the reader's words, or the JSON path ``recipients[6]`` as it is."""
        if self.kind == "row":
            return Text("row %(row)s", row=self.number)
        return f"recipients[{self.number}]"


def normalize_recipient(value: Any) -> NamedAddress:
    """An ``email`` cell (``a@b``, ``<a@b>`` or ``Name <a@b>``) as its address, domain
    lower-cased (the de-duplication key), and display name; raises AddressError.

    The local part keeps its case: RFC 5321 lets a mailbox tell ``Bob`` from
    ``bob``, so only the domain, which is case-insensitive, is folded.
    """
    if not isinstance(value, str):
        raise AddressError("invalid_email", Text("'%(value)s' is not a valid email address",
                                                 value=str(value)[:100]))
    found = parse_mailbox(value)
    local, _, domain = found.address.rpartition("@")
    return NamedAddress(f"{local}@{domain.lower()}", found.name)


def checked_recipient(row: Row) -> NamedAddress:
    """The row's ``email`` cell as a recipient, or InvalidRequest naming the row and field."""
    if row.recipient is not None:
        return row.recipient
    try:
        return normalize_recipient(row.fields.get("email"))
    except AddressError as exc:
        raise InvalidRequest(exc.code, Text("%(where)s: %(problem)s", where=row.where,
                                            problem=exc.text), field="email") from None


def json_rows(recipients: list[Any]) -> Iterator[Row]:
    """``[{email, ...variables}]`` as rows numbered from 0 like the JSON list."""
    for index, item in enumerate(recipients):
        fields = item if isinstance(item, dict) else {"email": item}
        yield Row("index", index, fields)


def require_columns(header: Sequence[str], variables: Sequence[str], table: Text) -> None:
    """InvalidRequest (``missing_column``) when ``header`` (of ``table``: the CSV's, a saved
    list's) lacks a template variable: one answer for the column, not one per row."""
    missing = [name for name in variables if name not in header]
    if missing:
        raise InvalidRequest("missing_column", ntext(
            "%(table)s has no column for template variable %(names)s",
            "%(table)s has no column for template variables %(names)s", len(missing),
            table=table, names=", ".join(repr(m) for m in missing)), field=missing[0])


def csv_rows(stream: IO[bytes], variables: list[str], *,
             charset: str | None = None) -> Iterator[Row]:
    """A CSV recipient grid as rows; row numbers as a spreadsheet shows them (header = 1).

    The header must have an ``email`` column and one column per template
    variable; other columns are ignored. ``charset`` None or "auto": detected
    (``shared.intake.csvtext``). Raises InvalidRequest for a bad header, a
    file that is not CSV, or bytes the charset cannot read (naming the line).
    """
    reader = csv.reader(csv_lines(stream, charset))
    try:
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise InvalidRequest("no_recipients", Text(
                "the CSV is empty: send a header row (email and the template's variables) "
                "and one row per recipient"), field="recipients")
        if "email" not in header:
            raise InvalidRequest("missing_column", Text(
                "the CSV header (row 1) has no 'email' column"), field="email")
        require_columns(header, variables, Text("the CSV header (row 1)"))
        for number, cells in enumerate(reader, start=2):
            if not any(cells):
                continue  # a blank line (often the last one), or only empty cells
            if len(cells) != len(header):
                yield Row("row", number, {}, cell_error=Text(
                    "has %(cells)s cells; the header has %(columns)s", cells=len(cells),
                    columns=len(header)))
                continue
            yield Row("row", number, dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise InvalidRequest("invalid_csv", Text("row %(row)s: %(problem)s",
                                                 row=reader.line_num, problem=str(exc))
                             ) from None


def _check(row: Row, variables: list[str], subject_variables: set[str]
           ) -> tuple[NamedAddress, dict]:
    """(normalized recipient, values) of a row, or InvalidRequest naming the row."""
    if row.cell_error:
        raise InvalidRequest("wrong_cell_count", Text("%(where)s: %(problem)s",
                                                      where=row.where, problem=row.cell_error))
    recipient = checked_recipient(row)
    return recipient, recipient_values(variables, subject_variables, row.fields,
                                       recipient.address, row.where)


def _problem(row: Row, exc: InvalidRequest) -> dict:
    return {row.kind: row.number, "code": exc.code, "message": exc.text, "field": exc.field}


def create_campaign(
    engine: Engine, key: ApiKey, request: CampaignRequest,
    rows: Callable[[list[str]], Iterable[Row]], settings: Settings,
    idempotency: Idempotency | None = None, actor: Actor | None = None,
) -> CampaignRow:
    """Store the campaign and its de-duplicated grid in one transaction, or nothing
    (with its audit entry when an ``actor`` is named).

    ``rows`` is given the template's variables (a CSV needs them to check its
    header) and yields the recipients. Raises InvalidRequest listing up to
    ``MAX_REPORTED_ROWS`` bad rows; nothing is written then. With
    ``idempotency``, a key seen before with the same request returns the
    campaign as first answered and creates nothing (the rows are not read);
    with another request, Conflict. A retry racing the first request waits
    for it (``shared.intake.idempotency``).
    """
    request = request.model_copy(
        update={"from_addr": sender_for(key, request.from_addr, settings)})
    with engine.begin() as conn:
        first = first_answer(conn, key.id, idempotency)
        if first is not None:
            return _restored(first)
        template = get_template(conn, key.id, request.template_id)
        if template is None:
            raise InvalidRequest("template_not_found", Text(
                "templateId: no template %(id)s for this API key", id=request.template_id),
                field="templateId")
        campaign_id = insert_campaign(conn, key.id, request, template)
        uploaded = _upload(conn, rows(template.variables), template.variables,
                           template.source.subject_variables())
        store_recipients(conn, campaign_id, uploaded, template.variables)
        campaign = get_campaign(conn, key.id, campaign_id)
        remember(conn, key.id, idempotency, 201, _stored(campaign))
        if actor is not None:
            record(conn, actor, "campaign.create", f"campaign {campaign_id}", after={
                "name": campaign.name, "topic": campaign.topic_id,
                "template": request.template_id, "recipients": campaign.total,
                "scheduled_at": campaign.scheduled_at.isoformat()})
        return campaign


_TIMES = ("scheduled_at", "created_at", "updated_at")


def _stored(campaign: CampaignRow) -> dict:
    """The campaign as JSON, to answer a replayed Idempotency-Key."""
    return {name: value.isoformat() if name in _TIMES else value
            for name, value in asdict(campaign).items()}


def _restored(stored: dict) -> CampaignRow:
    return CampaignRow(**{name: datetime.fromisoformat(value) if name in _TIMES else value
                          for name, value in stored.items()})


def _upload(conn: Connection, rows: Iterable[Row], variables: list[str],
            subject_variables: set[str]) -> int:
    """COPY every good row; raise listing the bad ones (the caller's transaction rolls back)."""
    checked = all_or_nothing(rows, lambda row: _check(row, variables, subject_variables),
                             Text("the campaign was not created"))
    with recipient_upload(conn, len(variables)) as writer:
        for number, (recipient, values) in checked:
            writer.write(number, recipient.address, recipient.name, values.values())
        uploaded = writer.count
    if not uploaded:
        raise InvalidRequest("no_recipients", Text("the campaign has no recipients"),
                             field="recipients")
    return uploaded


def all_or_nothing(rows: Iterable[Row], check: Callable[[Row], Any],
                   consequence: Text) -> Iterator[tuple[int, Any]]:
    """(row number, ``check(row)``) for each row while all are good; at the end, if any
    was bad, InvalidRequest listing up to MAX_REPORTED_ROWS of them by number: its
    message counts them and says the ``consequence``, its details say what is wrong
    with each (once: the message does not repeat the first).

    Every row is checked, so the caller learns of every bad row at once; once
    one is bad nothing more is yielded, and the caller's transaction rolls
    back on the error.
    """
    problems: list[dict] = []
    bad = 0
    for row in rows:
        try:
            result = check(row)
        except InvalidRequest as exc:
            bad += 1
            if len(problems) < MAX_REPORTED_ROWS:
                problems.append(_problem(row, exc))
            continue
        if not bad:
            yield row.number, result
    if bad:
        raise InvalidRequest("invalid_recipients", ntext(
            "%(num)s recipient row is invalid; %(consequence)s.",
            "%(num)s recipient rows are invalid; %(consequence)s.", bad,
            consequence=consequence), field="recipients", details=problems)


# --- operator actions ------------------------------------------------------------------

def _locked(conn: Connection, key: ApiKey, campaign_id: int) -> CampaignRow:
    campaign = get_campaign(conn, key.id, campaign_id, for_update=True)
    if campaign is None:
        raise NotFound("campaign_not_found", Text("no campaign %(id)s for this API key",
                                                  id=campaign_id))
    return campaign


def _transition(engine: Engine, key: ApiKey, campaign_id: int, allowed, refusal,
                status: CampaignStatus, then, actor: Actor | None) -> CampaignRow:
    """Lock the campaign, check its status (``allowed``), set ``status`` and do ``then``
    to its rows, in one transaction (with its audit entry when an ``actor`` is named);
    Conflict (``refusal(campaign)``) otherwise."""
    with engine.begin() as conn:
        campaign = _locked(conn, key, campaign_id)
        if not allowed(campaign.status):
            raise refusal(campaign)
        set_status(conn, campaign_id, status)
        then(conn, campaign_id)
        if actor is not None:
            record(conn, actor, f"campaign.{status}", f"campaign {campaign_id}",
                   before={"status": campaign.status}, after={"status": status})
        return get_campaign(conn, key.id, campaign_id)


def pause(engine: Engine, key: ApiKey, campaign_id: int,
          actor: Actor | None = None) -> CampaignRow:
    """Stop expanding and take unclaimed rows off the conveyor; messages being sent finish."""
    return _transition(
        engine, key, campaign_id, lambda status: status == CampaignStatus.ACTIVE,
        lambda c: Conflict("campaign_not_active", Text(
            "campaign %(id)s is %(status)s; only an active campaign can be paused",
            id=c.id, status=c.status)),
        CampaignStatus.PAUSED, hold_messages, actor)


def resume(engine: Engine, key: ApiKey, campaign_id: int,
           actor: Actor | None = None) -> CampaignRow:
    """Expand and send again where the campaign stopped."""
    return _transition(
        engine, key, campaign_id, lambda status: status == CampaignStatus.PAUSED,
        lambda c: Conflict("campaign_not_paused", Text(
            "campaign %(id)s is %(status)s; only a paused campaign can be resumed",
            id=c.id, status=c.status)),
        CampaignStatus.ACTIVE, release_messages, actor)


def cancel(engine: Engine, key: ApiKey, campaign_id: int,
           actor: Actor | None = None) -> CampaignRow:
    """Stop for good: unexpanded recipients are never expanded, unclaimed rows cancelled."""
    return _transition(
        engine, key, campaign_id, lambda status: status != CampaignStatus.CANCELLED,
        lambda c: Conflict("campaign_cancelled", Text(
            "campaign %(id)s is already cancelled", id=c.id)),
        CampaignStatus.CANCELLED, cancel_messages, actor)


def progress(conn: Connection, campaign: CampaignRow, now: datetime) -> dict:
    """Totals per message state, with recipients not yet expanded as ``pending``
    (``cancelled`` once the campaign is), so ``total`` is the sum of ``status``;
    and the phase the campaign is in."""
    status = message_counts(conn, campaign.id)
    unexpanded = campaign.total - campaign.expanded
    if unexpanded:
        name = S.CANCELLED if campaign.status == CampaignStatus.CANCELLED else "pending"
        status[name] = status.get(name, 0) + unexpanded
    if campaign.status != CampaignStatus.ACTIVE:
        phase = campaign.status
    elif campaign.expanded == 0 and campaign.scheduled_at > now:
        phase = "scheduled"
    elif unexpanded:
        phase = "expanding"
    elif any(status.get(state) for state in PENDING):
        phase = "sending"  # a phase, named like the state it waits for
    else:
        phase = "completed"
    return {"phase": phase, "status": status}
