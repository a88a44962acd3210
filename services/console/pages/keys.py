"""API keys (admins only): list, create (the key shown once), change, revoke; each key's
traffic and last use, the reputation guard's pauses with their Resume, and its webhook
endpoints with their latest deliveries (read-only: a key manages them through the API).

The rules and the audit entries are ``shared.db.keys``' (``KeySettings``,
``create_key``, ``change_key``, ``revoke_key``), the same as ``mailpipe keys``;
a rule broken is shown beside its field. A new key is shown in the answer to
the form that made it (never in a URL, never again: only its hash is stored).
A key's traffic is the dashboard's (``shared.db.traffic``: its rollups over 30
days, a day a bucket), so the two pages say the same for the same key.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime

import falcon

from services.console.pages.dashboard import COLOURS, chart
from services.console.web import ROOT, Page, PageNotFound, form, redirect
from shared.db.guard import active_pauses, key_levels
from shared.db.keys import KeySettings, change_key, create_key, get_key, list_keys, revoke_key
from shared.db.traffic import WINDOWS, traffic
from shared.db.webhook_deliveries import recent_deliveries
from shared.db.webhooks import MAX_ENDPOINTS, list_endpoints
from shared.errors import InvalidRequest
from shared.guard import LEVEL_NAMES, Levels, change_key_levels, resume
from shared.i18n import Text

ADMIN = {"GET": "admin", "POST": "admin"}
#: A key's page: the dashboard's 30 days (its rollups), a bucket a day (UTC).
#: A webhook endpoint's latest deliveries shown on its key's page.
RECENT_DELIVERIES = 5
KEY_DAYS = replace(WINDOWS["30d"], name="key-30d", step=86400, buckets=30)


def _rate(value: str | None, field: str) -> float | None:
    """A rate as typed: empty is the fleet's (None); InvalidRequest naming ``field``."""
    value = (value or "").strip().replace(",", ".")
    if not value:
        return None
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if math.isnan(rate):
        raise InvalidRequest("invalid_rate", Text(
            "'%(value)s' is not a number", value=value), field=field)
    return rate


def _settings(values: dict[str, str]) -> KeySettings:
    """The key's settings as the form has them (checked by ``shared.db.keys`` after)."""
    domains = tuple(d for d in re.split(r"[\s,;]+", values.get("domains", "")) if d)
    return KeySettings(values.get("name", ""), domains,
                       _rate(values.get("max_send_rate"), "max_send_rate"),
                       _rate(values.get("intake_rate"), "intake_rate"),
                       values.get("configuration_set", ""))


def _form_values(settings: KeySettings) -> dict[str, str]:
    def rate(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    return {"name": settings.name, "domains": "\n".join(settings.domains),
            "max_send_rate": rate(settings.max_send_rate),
            "intake_rate": rate(settings.intake_rate),
            "configuration_set": settings.configuration_set or ""}


class KeysPage(Page):
    """``/ui/keys``: every key; ``POST`` makes one and shows it, once."""

    roles = ADMIN

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._list(req, resp, values={"name": "", "domains": "", "max_send_rate": "",
                                      "intake_rate": "", "configuration_set": ""})

    def _list(self, req: falcon.Request, resp: falcon.Response, values: dict,
              error: InvalidRequest | None = None) -> None:
        with self.console.engine.connect() as conn:
            keys = list_keys(conn)
            paused = {p.api_key_id for p in active_pauses(conn)}
        keys.sort(key=lambda k: (k.revoked_at is not None, k.id))
        self.console.render(req, resp, "keys.html", keys=keys, values=values, error=error,
                            paused=paused,
                            fleet=self.console.settings,
                            status=falcon.HTTP_400 if error else falcon.HTTP_200)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        values = form(req)
        try:
            settings = _settings(values)
            with self.console.engine.begin() as conn:
                key, plain = create_key(conn, settings.name, list(settings.domains),
                                        settings.max_send_rate,
                                        intake_rate=settings.intake_rate,
                                        configuration_set=settings.configuration_set,
                                        actor=self.console.actor(req))
        except InvalidRequest as exc:
            self._list(req, resp, values, error=exc)
            return
        self.console.render(req, resp, "key_created.html", key=key, plain=plain,
                            status=falcon.HTTP_201)


def _no_key(key_id: int) -> PageNotFound:
    return PageNotFound(Text("There is no API key %(id)s.", id=key_id), back=f"{ROOT}/keys")


def _notice(req: falcon.Request) -> Text | None:
    if req.get_param_as_bool("saved"):
        return Text("Saved.")
    if req.get_param_as_bool("revoked"):
        return Text("The key is revoked: requests with it are refused from now on.")
    if req.get_param_as_bool("resumed"):
        return Text("Resumed: its held messages are sent now.")
    if req.get_param_as_bool("levels"):
        return Text("The key's reputation guard levels are saved.")
    return None


class KeyPage(Page):
    """``/ui/keys/{id}``: one key, its traffic and last use; ``POST`` changes it."""

    roles = ADMIN

    def on_get(self, req: falcon.Request, resp: falcon.Response, key_id: int) -> None:
        self._show(req, resp, key_id)

    def _show(self, req: falcon.Request, resp: falcon.Response, key_id: int,
              values: dict | None = None, error: InvalidRequest | None = None,
              levels: dict | None = None) -> None:
        with self.console.engine.connect() as conn:
            key = get_key(conn, key_id)
            if key is None:
                raise _no_key(key_id)
            figures = traffic(conn, KEY_DAYS, datetime.now(UTC), api_key_id=key_id)
            pauses = active_pauses(conn, key_id)
            webhooks = list_endpoints(conn, key_id, limit=MAX_ENDPOINTS)
            deliveries = recent_deliveries(conn, [w.id for w in webhooks],
                                           per_endpoint=RECENT_DELIVERIES)
            own = key_levels(conn, key_id)
        if levels is None:
            levels = {n: "" if v is None else f"{v:g}" for n, v in zip(LEVEL_NAMES, own,
                                                                          strict=True)}
        level_error = error if error and error.field in LEVEL_NAMES else None
        busy = any(figures.totals.values())
        days = sorted(((day, counts) for day, counts in figures.points.items()
                       if any(counts.values())), reverse=True)
        self.console.render(req, resp, "key.html", key=key, figures=figures, days=days,
                            measures=list(COLOURS),
                            chart=chart(figures, req.context.lang) if busy else "",
                            values=values or _form_values(key.settings),
                            error=None if level_error else error, levels=levels,
                            level_error=level_error, level_names=LEVEL_NAMES,
                            fleet=self.console.settings, notice=_notice(req), pauses=pauses,
                            webhooks=webhooks, deliveries=deliveries,
                            status=falcon.HTTP_400 if error else falcon.HTTP_200)

    def on_post(self, req: falcon.Request, resp: falcon.Response, key_id: int) -> None:
        values = form(req)
        try:
            with self.console.engine.begin() as conn:
                changed = change_key(conn, key_id, _settings(values),
                                     actor=self.console.actor(req))
        except InvalidRequest as exc:
            self._show(req, resp, key_id, values, exc)
            return
        if changed is None:  # revoked since the form was shown, or never there
            self._show(req, resp, key_id, values, InvalidRequest("key_revoked", Text(
                "This key is revoked: it can no longer be changed.")))
            return
        raise redirect(f"{ROOT}/keys/{key_id}?saved=1")


class RevokeKey(Page):
    """``POST /ui/keys/{id}/revoke``."""

    roles = ADMIN

    def on_post(self, req: falcon.Request, resp: falcon.Response, key_id: int) -> None:
        with self.console.engine.begin() as conn:
            revoked = revoke_key(conn, key_id, actor=self.console.actor(req))
            if not revoked and get_key(conn, key_id) is None:
                raise _no_key(key_id)
        raise redirect(f"{ROOT}/keys/{key_id}?revoked=1")


class ResumeKey(Page):
    """``POST /ui/keys/{id}/resume``: lift the reputation guard's pauses of the key (the
    form's ``topic``: that topic's alone), audited (shared.guard.resume)."""

    roles = ADMIN

    def on_post(self, req: falcon.Request, resp: falcon.Response, key_id: int) -> None:
        topic = form(req).get("topic") or None
        with self.console.engine.begin() as conn:
            if get_key(conn, key_id) is None:
                raise _no_key(key_id)
            resume(conn, key_id, topic, actor=self.console.actor(req))
        raise redirect(f"{ROOT}/keys/{key_id}?resumed=1#guard")


class KeyLevels(KeyPage):
    """``POST /ui/keys/{id}/levels``: the key's own reputation guard levels (empty: the
    setting's), checked and audited by shared.guard.change_key_levels."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, key_id: int) -> None:
        values = form(req)
        levels = {n: (values.get(n) or "").strip() for n in LEVEL_NAMES}
        try:
            with self.console.engine.begin() as conn:
                changed = change_key_levels(
                    conn, key_id, {n: _rate(v, n) for n, v in levels.items()},
                    fleet=Levels.from_settings(self.console.settings),
                    actor=self.console.actor(req))
        except InvalidRequest as exc:
            self._show(req, resp, key_id, error=exc, levels=levels)
            return
        if changed is None:
            raise _no_key(key_id)
        raise redirect(f"{ROOT}/keys/{key_id}?levels=1#guard")
