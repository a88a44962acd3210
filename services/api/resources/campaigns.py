"""``/v1/campaigns``: create (JSON or CSV upload), list, progress, pause/resume/cancel.

The recipients come one of three ways:

- JSON: ``{"name", "templateId", "topicId", ..., "recipients": [{"email", ...}]}``, or
  ``"listId"`` naming a saved recipient list (``/v1/lists``) instead of ``recipients``;
- a CSV body (``Content-Type: text/csv``), the campaign's fields in the query
  string::

    POST /v1/campaigns?name=June&templateId=3&topicId=june&scheduledAt=2030-06-01T09:00:00Z

- a form upload (``multipart/form-data``): the fields as form fields (or in
  the query string) *before* the file part ``recipients``, which is read as
  it streams in (``curl -F name=June -F templateId=3 -F topicId=june
  -F recipients=@list.csv``).

A CSV's charset is the ``charset`` parameter (query string or form field), else
the ``charset`` of its Content-Type, else detected (UTF-8 with or without a
BOM, UTF-16 with a BOM, CP949/EUC-KR: ``shared.intake.csvtext``); bytes it
cannot read are refused naming their line.

Each way honours ``Idempotency-Key`` as ``POST /v1/messages`` does; an
upload's fingerprint covers its fields and the file's bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import falcon

from services.api.idempotency import idempotency_of, idempotency_of_upload
from services.api.media import capped, csv_charset, read_json, upload_stream
from services.api.params import MAX_ID, int_param
from services.api.schemas.campaigns import CampaignBody, CampaignFields
from services.api.schemas.messages import parse
from services.api.views.campaigns import campaign_view
from shared.db.campaigns import get_campaign, list_campaigns
from shared.errors import InvalidRequest, NotFound, PayloadTooLarge
from shared.i18n import Text
from shared.intake import campaigns as rules
from shared.intake.campaigns import Row, create_campaign, csv_rows, json_rows
from shared.intake.idempotency import Idempotency
from shared.intake.recipient_lists import campaign_rows

#: Campaigns per page of ``GET /v1/campaigns``.
PAGE = 100

_ACTIONS = {"pause": rules.pause, "resume": rules.resume, "cancel": rules.cancel}

#: Fingerprints of this endpoint's Idempotency-Keys never match another endpoint's.
IDEMPOTENCY_SCOPE = "POST /v1/campaigns"

#: What a body parser gives: the campaign's fields, its rows (given the
#: template's variables) and the Idempotency-Key, if any.
_Parsed = tuple[CampaignFields, Callable[[list[str]], Iterable[Row]], Idempotency | None]


def _csv_rows(stream, charset: str | None) -> Callable[[list[str]], Iterable[Row]]:
    def rows(variables: list[str]):
        return csv_rows(stream, variables, charset=charset)

    return rows


class CampaignsResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        media_type, params = falcon.parse_header(req.content_type or "application/json")
        if media_type == "text/csv":
            fields, rows, idempotency = self._csv(req)
        elif media_type == "multipart/form-data":
            fields, rows, idempotency = self._form(req)
        elif media_type == "application/json":
            fields, rows, idempotency = self._json(req)
        else:
            raise InvalidRequest("unsupported_media_type", Text(
                "Content-Type %(type)r: send application/json, text/csv with the campaign's "
                "fields in the query string, or multipart/form-data", type=media_type))
        campaign = create_campaign(self.deps.engine, req.context.api_key, fields,
                                   rows, self.deps.settings, idempotency=idempotency)
        resp.status = falcon.HTTP_201
        resp.location = f"/v1/campaigns/{campaign.id}"
        resp.media = campaign_view(campaign)

    def _json(self, req: falcon.Request) -> _Parsed:
        data = read_json(req, self.deps.settings.max_body_bytes)
        body = parse(CampaignBody, data)

        def rows(variables: list[str]):
            if body.list_id is not None:
                return campaign_rows(self.deps.engine, req.context.api_key, body.list_id,
                                     variables=variables)
            return json_rows(body.recipients)

        return body, rows, idempotency_of(req, data, scope=IDEMPOTENCY_SCOPE)

    def _csv(self, req: falcon.Request) -> _Parsed:
        """A CSV body, the campaign's fields in the query string."""
        values = dict(req.params)
        charset = csv_charset(values, req.content_type)
        fields = parse(CampaignFields, values)
        max_bytes = self.deps.settings.max_upload_bytes
        stream, idempotency = idempotency_of_upload(
            req, IDEMPOTENCY_SCOPE, {"csv": values, "charset": charset},
            lambda digest: upload_stream(req, max_bytes, digest),
        )
        return fields, _csv_rows(stream, charset), idempotency

    def _form(self, req: falcon.Request) -> _Parsed:
        """The fields before the ``recipients`` file part, and that part as a stream."""
        max_bytes = self.deps.settings.max_upload_bytes
        if req.content_length is not None and req.content_length > max_bytes:
            raise PayloadTooLarge("body_too_large", Text(
                "the upload is %(size)s bytes; the limit is %(max)s", size=req.content_length,
                max=max_bytes))
        values = dict(req.params)
        for part in req.get_media():
            if part.name == "recipients":
                charset = csv_charset(values, part.content_type)
                fields = parse(CampaignFields, values)
                stream, idempotency = idempotency_of_upload(
                    req, IDEMPOTENCY_SCOPE, {"form": values, "charset": charset},
                    lambda digest, part=part: capped(part.stream, max_bytes, digest),
                )
                return fields, _csv_rows(stream, charset), idempotency
            values[part.name] = part.get_text()
        raise InvalidRequest("missing_field", Text(
            "recipients: the form has no 'recipients' file part (send it after the other "
            "fields)"), field="recipients")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        after = int_param(req, "after", min_value=0, max_value=MAX_ID, default=0)
        with self.deps.engine.connect() as conn:
            rows = list_campaigns(conn, req.context.api_key.id, after=after, limit=PAGE)
        resp.media = {
            "campaigns": [campaign_view(r) for r in rows],
            "next": f"/v1/campaigns?after={rows[-1].id}" if len(rows) == PAGE else None,
        }


class CampaignResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, campaign_id: int) -> None:
        with self.deps.engine.connect() as conn:
            campaign = get_campaign(conn, req.context.api_key.id, campaign_id)
            if campaign is None:
                raise NotFound("campaign_not_found", Text(
                    "no campaign %(id)s for this API key", id=campaign_id))
            progress = rules.progress(conn, campaign, datetime.now(UTC))
        resp.media = campaign_view(campaign, progress)


class CampaignActionResource:
    """``POST /v1/campaigns/{id}/pause``, ``/resume`` and ``/cancel``."""

    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response, campaign_id: int,
                action: str) -> None:
        act = _ACTIONS.get(action)
        if act is None:
            raise NotFound("not_found", Text("no action %(action)r; use pause, resume or cancel",
                                             action=action))
        campaign = act(self.deps.engine, req.context.api_key, campaign_id)
        with self.deps.engine.connect() as conn:
            progress = rules.progress(conn, campaign, datetime.now(UTC))
        resp.media = campaign_view(campaign, progress)
