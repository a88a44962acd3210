"""Send plans: a template, a grid (or a CSV), a topic and a time, as a campaign.

Creation calls ``shared.intake.campaigns.create_campaign``, the function
behind ``POST /v1/campaigns``: the same validation, de-duplication,
all-or-nothing storage and scheduling. Pause, resume and cancel call the
same actions as ``POST /v1/campaigns/{id}/{action}``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import falcon

from services.api.media import capped, csv_charset
from services.api.params import row_id
from services.api.schemas.campaigns import CampaignFields
from services.api.schemas.messages import parse
from services.console.i18n import label
from services.console.web import ROOT, Page, PageNotFound, key_of, redirect
from shared.db.audit import Actor
from shared.db.campaigns import get_campaign
from shared.db.console_queries import recent_campaign_ids
from shared.db.recipient_lists import get_list, recent_lists
from shared.db.templates import list_templates
from shared.errors import Conflict, InvalidRequest
from shared.i18n import N_, Text
from shared.intake import campaigns as rules
from shared.intake.campaigns import CampaignRequest, create_campaign, csv_rows
from shared.intake.recipient_lists import campaign_rows
from shared.states import MessageState

ACTIONS = {"pause": rules.pause, "resume": rules.resume, "cancel": rules.cancel}

#: The query parameter naming the plan an action was done to (``?paused=7``).
DONE = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}

#: What the plans page says after a change, by the parameter naming the plan: ``created``
#: (sent by the page's script once the plan is made), then PlanAction's.
NOTICES = {
    "created": N_("Send plan “%(name)s” created."),
    "paused": N_("Send plan “%(name)s” paused."),
    "resumed": N_("Send plan “%(name)s” resumed."),
    "cancelled": N_("Send plan “%(name)s” cancelled."),
    "unchanged": N_("Send plan “%(name)s” was not changed: it is %(phase)s."),
}

#: States in the order the progress bar shows them: finished ones first, then those on
#: their way, then recipients not expanded yet ("pending", see ``rules.progress``).
BAR_STATES = (*reversed([s.value for s in MessageState]), "pending")


PHASES = ("scheduled", "expanding", "sending", "completed", "paused", "cancelled")


def _labels(lang: str) -> dict[str, str]:
    labels = {state: label(lang, "state", state) for state in BAR_STATES}
    labels.update({f"phase.{phase}": label(lang, "phase", phase) for phase in PHASES})
    return labels


def _notice(req: falcon.Request, plans: list[dict]) -> Text | None:
    """The notice of the change named in the query (``NOTICES``), for a plan shown."""
    for param, message in NOTICES.items():
        plan_id = req.get_param_as_int(param, min_value=1)
        if plan_id is not None:
            plan = next((p for p in plans if p["id"] == plan_id), None)
            return plan and Text(message, name=plan["name"],
                                 phase=label(req.context.lang, "phase", plan["phase"]))
    return None


def plan_progress(engine, key_id: int, limit: int = 50) -> list[dict]:
    """The key's newest campaigns with their progress (``rules.progress``), newest first."""
    now = datetime.now(UTC)
    with engine.connect() as conn:
        shown = []
        for campaign_id in recent_campaign_ids(conn, key_id, limit):
            campaign = get_campaign(conn, key_id, campaign_id)
            progress = rules.progress(conn, campaign, now)
            shown.append({"id": campaign.id, "name": campaign.name, "topic": campaign.topic_id,
                          "status": campaign.status, "phase": progress["phase"],
                          "total": campaign.total, "counts": progress["status"],
                          "scheduled_at": campaign.scheduled_at.isoformat()})
    return shown


def _request(values: dict) -> CampaignRequest:
    """The form's fields as the campaign request the REST API validates (CampaignFields)."""
    return parse(CampaignFields, {k: v for k, v in values.items() if v not in (None, "")})


_FIELDS = {"name": "name", "template": "templateId", "topic": "topicId",
           "scheduled_at": "scheduledAt", "from": "from"}


class PlansPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        with self.console.engine.connect() as conn:
            templates = list_templates(conn, key.id, limit=500)
            grids = recent_lists(conn, key.id)
        plans = plan_progress(self.console.engine, key.id)
        self.console.render(req, resp, "plans.html", plans=plans, notice=_notice(req, plans),
                            templates=templates, grids=grids, bar_states=BAR_STATES,
                            state_labels=_labels(req.context.lang))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """A multipart form (sent by the page's script, with the CSRF header): the plan's
        fields, then either ``grid`` (a saved grid's id) or the ``recipients`` CSV file,
        which is streamed into the campaign as it arrives, in the ``charset`` chosen
        before it (auto: detected, ``shared.intake.csvtext``)."""
        key = key_of(req)
        max_bytes = self.console.settings.max_upload_bytes
        if not (req.content_type or "").startswith(falcon.MEDIA_MULTIPART):
            raise InvalidRequest("unsupported_media_type", Text(
                "send the plan form as multipart/form-data"))
        values: dict[str, str] = {}
        campaign = None
        for part in req.get_media():
            if part.name == "recipients" and part.filename:
                stream = capped(part.stream, max_bytes, None)
                charset = csv_charset(values, part.content_type)  # the form's select
                campaign = create_campaign(
                    self.console.engine, key, _request(self._fields(values)),
                    lambda variables, s=stream, c=charset: csv_rows(s, variables, charset=c),
                    self.console.settings, actor=self.console.actor(req))
                break
            if part.name != "recipients":
                values[part.name] = part.get_text()
        if campaign is None:
            campaign = self._from_grid(key, values, self.console.actor(req))
        resp.status = falcon.HTTP_201
        resp.media = {"id": campaign.id, "total": campaign.total,
                      "duplicates": campaign.duplicates}

    def _fields(self, values: dict[str, str]) -> dict[str, str]:
        return {api: values.get(name, "") for name, api in _FIELDS.items()}

    def _from_grid(self, key, values: dict[str, str], actor: Actor):
        """The plan as a campaign of a saved list (a grid, or a list made by the API), its
        rows read as ``POST /v1/campaigns`` reads a ``listId``'s."""
        list_id = row_id(values.get("grid", ""))
        if list_id is None:
            raise InvalidRequest("missing_field", Text("grid: choose a saved grid or a CSV file"),
                                 field="grid")
        with self.console.engine.connect() as conn:
            if get_list(conn, key.id, list_id) is None:
                raise InvalidRequest("grid_not_found", Text("grid: no such grid"), field="grid")
        return create_campaign(self.console.engine, key, _request(self._fields(values)),
                               lambda variables: campaign_rows(self.console.engine, key,
                                                               list_id,
                                                               variables=variables),
                               self.console.settings, actor=actor)


class ProgressEndpoint(Page):
    """``GET /ui/plans/progress``: every plan's counts by state, for the live bars."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"plans": plan_progress(self.console.engine, key_of(req).id)}


class PlanAction(Page):
    """``POST /ui/plans/{id}/pause|resume|cancel`` (a form with the CSRF token)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, campaign_id: int,
                action: str) -> None:
        act = ACTIONS.get(action)
        if act is None:
            raise PageNotFound(Text("no action %(action)r; use pause, resume or cancel",
                                    action=action), back=f"{ROOT}/plans")
        key = key_of(req)
        with self.console.engine.connect() as conn:
            if get_campaign(conn, key.id, campaign_id) is None:
                raise PageNotFound(Text("There is no send plan %(id)s.", id=campaign_id),
                                   back=f"{ROOT}/plans")
        try:
            act(self.console.engine, key, campaign_id, actor=self.console.actor(req))
            done = DONE[action]
        except Conflict:  # already so (another tab), or finished: the notice says its phase
            done = "unchanged"
        raise redirect(f"{ROOT}/plans?{done}={campaign_id}#plan-{campaign_id}")
