"""People (admins only): the console's accounts; invite one for OIDC, create a local one
(its password shown once), change a role, disable and enable, give a new password.

The rules and the audit entries are ``shared.db.people``' (the same as
``mailpipe admins create``): a change of password, role or status ends every
session of the account, and no change leaves the console without an admin.
An invitation does not get past ``MAILPIPE_CONSOLE_ALLOW``: the page says
when an account that signs in by OIDC is not on it.
"""

from __future__ import annotations

import falcon

from services.console.admins import create_account
from services.console.allowlist import allowed
from services.console.i18n import label
from services.console.passwords import hash_password, new_password
from services.console.web import ROOT, Page, PageNotFound, form, redirect
from shared.db import people
from shared.db.people import Person
from shared.db.tables import ROLES
from shared.errors import RequestError
from shared.i18n import N_, Text

ADMIN = {"GET": "admin", "POST": "admin"}
#: What a row's buttons do (``POST /ui/people/{id}/{action}``).
ACTIONS = ("role", "disable", "enable", "password")
#: What the page says after each change (``?done=…&id=…``: read back from the account).
NOTICES = {
    "invite": N_("%(email)s is invited as %(role)s. The first identity that signs in with "
                 "this email is bound to the account."),
    "role": N_("%(email)s is now %(role)s. Their open sessions have ended."),
    "disable": N_("%(email)s is disabled: their sessions have ended and they cannot sign in."),
    "enable": N_("%(email)s is enabled again, as %(role)s."),
}


def _no_person(person_id: int) -> PageNotFound:
    return PageNotFound(Text("There is no account %(id)s.", id=person_id), back=f"{ROOT}/people")


class PeoplePage(Page):
    """``/ui/people``: every account, the invitation and local-account forms."""

    roles = ADMIN

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show(req, resp)

    def show(self, req: falcon.Request, resp: falcon.Response, *, values: dict | None = None,
             error: RequestError | None = None, form_name: str | None = None) -> None:
        """The page; after a refused change, ``error`` beside the form it came from
        (``form_name``: invite, local, or the row's person id) with what was typed."""
        with self.console.engine.connect() as conn:
            found = people.list_people(conn)
        allow = self.console.settings.console_allow
        self.console.render(
            req, resp, "people.html", people=found, roles=ROLES, me=req.context.session.user.id,
            values=values or {"email": "", "role": "viewer"}, error=error,
            form_name=form_name, notice=self._notice(req, found),
            not_allowed={p.id for p in found if not p.local and not allowed(p.email, allow)},
            status=falcon.code_to_http_status(error.status) if error else falcon.HTTP_200)

    def _notice(self, req: falcon.Request, found: list[Person]) -> Text | None:
        done, person_id = req.get_param("done"), req.get_param_as_int("id")
        person = next((p for p in found if p.id == person_id), None)
        if person is None or done not in NOTICES:
            return None
        return Text(NOTICES[done], email=person.email,
                    role=label(req.context.lang, "role", person.role))


def _done(action: str, person: Person) -> falcon.HTTPSeeOther:
    return redirect(f"{ROOT}/people?done={action}&id={person.id}")


class _PeopleForm(Page):
    """A form of the people page (admins only); a refusal shows the page again with it."""

    roles = ADMIN

    def __init__(self, console, page: PeoplePage) -> None:
        super().__init__(console)
        self.page = page


class InviteAction(_PeopleForm):
    """``POST /ui/people/invite`` (email, role): an account that signs in by OIDC."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        values = form(req)
        try:
            with self.console.engine.begin() as conn:
                person = people.invite(conn, values.get("email", ""), values.get("role", ""),
                                       actor=self.console.actor(req))
        except RequestError as exc:
            self.page.show(req, resp, values=values, error=exc, form_name="invite")
            return
        raise _done("invite", person)


class LocalAccountAction(_PeopleForm):
    """``POST /ui/people/local`` (email, role): a local account; its password is shown in
    the answer, once (never in a URL, never stored but as its hash)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        values = form(req)
        email, role = values.get("email", ""), values.get("role", "")
        try:
            password = create_account(self.console.engine, email, role,
                                      actor=self.console.actor(req), replace=False)
        except RequestError as exc:
            self.page.show(req, resp, values=values, error=exc, form_name="local")
            return
        self.console.render(req, resp, "person_created.html", email=email.strip().lower(),
                            account_role=role, password=password, new=True,
                            status=falcon.HTTP_201)


class PersonAction(_PeopleForm):
    """``POST /ui/people/{id}/{action}``: role (``role``), disable, enable, password."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, person_id: int,
                action: str) -> None:
        if action not in ACTIONS:
            raise PageNotFound(Text("There is no page at this address."), back=f"{ROOT}/people")
        actor = self.console.actor(req)
        password = new_password() if action == "password" else None
        try:
            with self.console.engine.begin() as conn:
                if action == "role":
                    person = people.set_role(conn, person_id, form(req).get("role", ""),
                                             actor=actor)
                elif action == "disable":
                    person = people.disable(conn, person_id, actor=actor)
                elif action == "enable":
                    person = people.enable(conn, person_id, actor=actor)
                else:
                    person = people.new_password(conn, person_id, hash_password(password),
                                                 actor=actor)
        except RequestError as exc:
            self.page.show(req, resp, error=exc, form_name=str(person_id))
            return
        if person is None:
            raise _no_person(person_id)
        if password is not None:
            self.console.render(req, resp, "person_created.html", email=person.email,
                                account_role=person.role, password=password, new=False)
            return
        raise _done(action, person)
