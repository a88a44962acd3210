"""People: the console's accounts as admins manage them (the People page, ``mailpipe admins``).

Every change is written with its audit entry in the caller's transaction
(``person.invite``, ``person.create``, ``person.password``, ``person.role``,
``person.disable``, ``person.enable``; the email as the target, the role and
status before and after, never a password or its hash). Changes go through
``shared.db.console_accounts``' ``save_user`` and ``disable_user``, which end
every session of an account whose password, role or status changes.

No change may leave the console without an enabled admin. ``_lock_admins``
locks the enabled admins' rows, in id order, before the change is decided:
two admins demoting each other at once are served one after the other, and
the second finds the first no longer an admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db.audit import Actor, record
from shared.db.console_accounts import disable_user, save_user
from shared.db.tables import ROLES, console_users
from shared.errors import Conflict, InvalidRequest
from shared.i18n import Text
from shared.intake.addresses import is_valid_address


@dataclass(frozen=True)
class Person:
    """A console account as the People page shows it."""

    id: int
    email: str
    role: str
    #: Signs in with a password.
    local: bool
    #: Bound to an OIDC identity (it has signed in with the identity provider).
    oidc: bool
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None

    @property
    def status(self) -> str:
        """disabled; invited (no password, and no identity has signed in to it yet); active."""
        if self.disabled_at is not None:
            return "disabled"
        return "active" if self.local or self.oidc else "invited"

    def audited(self) -> dict:
        """What the audit log keeps of the account."""
        return {"role": self.role, "status": self.status}


def _person(row) -> Person:
    return Person(row.id, row.email, row.role, row.password_hash is not None,
                  row.oidc_subject is not None, row.created_at, row.last_login_at,
                  row.disabled_at)


def list_people(conn: Connection) -> list[Person]:
    """Every account, enabled and disabled, by email."""
    return [_person(r) for r in conn.execute(select(console_users)
                                             .order_by(console_users.c.email))]


def get_person(conn: Connection, person_id: int, *, for_update: bool = False) -> Person | None:
    """Account ``person_id``; ``for_update`` locks its row until the transaction ends."""
    query = select(console_users).where(console_users.c.id == person_id)
    row = conn.execute(query.with_for_update() if for_update else query).one_or_none()
    return _person(row) if row else None


def find_person(conn: Connection, email: str) -> Person | None:
    """The account of ``email`` (any case), enabled or not."""
    row = conn.execute(select(console_users).where(
        console_users.c.email == email.strip().lower())).one_or_none()
    return _person(row) if row else None


def checked_account(email: str, role: str) -> str:
    """``email`` lower-cased, when it is an address and ``role`` a role; else InvalidRequest."""
    email = email.strip().lower()
    if not is_valid_address(email):
        raise InvalidRequest("invalid_email", Text("'%(email)s' is not an email address.",
                                                   email=email), field="email")
    _checked_role(role)
    return email


def _checked_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRequest("invalid_role", Text("There is no role '%(role)s'.", role=role),
                             field="role")


def _taken(email: str) -> Conflict:
    return Conflict("account_exists", Text("%(email)s already has an account.", email=email),
                    field="email")


def _new_account(conn: Connection, email: str, role: str,
                 password_hash: str | None) -> Person | None:
    """Insert the account; None when ``email`` has one (left as it is)."""
    row = conn.execute(
        pg_insert(console_users).values(email=email, role=role, password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=["email"]).returning(console_users)
    ).one_or_none()
    return _person(row) if row else None


def invite(conn: Connection, email: str, role: str, *, actor: Actor) -> Person:
    """An account for ``email`` with ``role`` and no password: the first identity that
    signs in with that email by OIDC is bound to it (``oidc_user``). The allowlist
    (``MAILPIPE_CONSOLE_ALLOW``) still decides who may sign in. Conflict when the email
    has an account already."""
    email = checked_account(email, role)
    person = _new_account(conn, email, role, None)
    if person is None:
        raise _taken(email)
    record(conn, actor, "person.invite", email, after={**person.audited(), "kind": "oidc"})
    return person


def add_local(conn: Connection, email: str, role: str, password_hash: str, *,
              actor: Actor | None = None, replace: bool = False) -> Person:
    """A local account (a password). An existing account: Conflict, or with ``replace``
    (``mailpipe admins create``) it gets this password and role and is enabled, and its
    sessions end. With ``actor``, recorded as ``person.create``, or ``person.password``
    for an account that existed."""
    email = checked_account(email, role)
    person = _new_account(conn, email, role, password_hash)
    if person is not None:
        if actor is not None:
            record(conn, actor, "person.create", email,
                   after={**person.audited(), "kind": "local"})
        return person
    if not replace:
        raise _taken(email)
    before = _locked_by_email(conn, email)
    if before.role == "admin" and role != "admin":
        _keep_an_admin(conn, before.id)
    save_user(conn, email, role, password_hash)
    after = get_person(conn, before.id)
    if actor is not None:
        record(conn, actor, "person.password", email, before=before.audited(),
               after={**after.audited(), "password": "new"})
    return after


def _locked_by_email(conn: Connection, email: str) -> Person:
    _lock_admins(conn)
    row = conn.execute(select(console_users).where(console_users.c.email == email)
                       .with_for_update()).one()
    return _person(row)


def new_password(conn: Connection, person_id: int, password_hash: str, *,
                 actor: Actor) -> Person | None:
    """Give an enabled account a new password (its sessions end); None when there is no
    such account, Conflict when it is disabled."""
    before = get_person(conn, person_id, for_update=True)
    if before is None:
        return None
    _refuse_if_disabled(before)
    save_user(conn, before.email, before.role, password_hash)
    after = get_person(conn, person_id)
    record(conn, actor, "person.password", before.email,
           before={"local": before.local}, after={"local": True, "password": "new"})
    return after


def set_role(conn: Connection, person_id: int, role: str, *, actor: Actor) -> Person | None:
    """Give an enabled account ``role`` (its sessions end); None when there is no such
    account. Conflict when it is disabled, or when it is the last enabled admin and the
    role is not admin."""
    _checked_role(role)
    _lock_admins(conn)
    before = get_person(conn, person_id, for_update=True)
    if before is None:
        return None
    _refuse_if_disabled(before)
    if before.role == role:
        return before
    if before.role == "admin":
        _keep_an_admin(conn, person_id)
    save_user(conn, before.email, role)
    record(conn, actor, "person.role", before.email, before={"role": before.role},
           after={"role": role})
    return get_person(conn, person_id)


def disable(conn: Connection, person_id: int, *, actor: Actor) -> Person | None:
    """Disable an account and end its sessions; None when there is no such account.
    Conflict when it is the last enabled admin. An account already disabled is left
    as it is (no entry)."""
    _lock_admins(conn)
    before = get_person(conn, person_id, for_update=True)
    if before is None or before.disabled_at is not None:
        return before
    if before.role == "admin":
        _keep_an_admin(conn, person_id)
    disable_user(conn, person_id)
    after = get_person(conn, person_id)
    record(conn, actor, "person.disable", before.email, before=before.audited(),
           after=after.audited())
    return after


def enable(conn: Connection, person_id: int, *, actor: Actor) -> Person | None:
    """Enable a disabled account with the role it had; None when there is no such
    account. An enabled account is left as it is (no entry)."""
    before = get_person(conn, person_id, for_update=True)
    if before is None or before.disabled_at is None:
        return before
    save_user(conn, before.email, before.role)
    after = get_person(conn, person_id)
    record(conn, actor, "person.enable", before.email, before=before.audited(),
           after=after.audited())
    return after


def _refuse_if_disabled(person: Person) -> None:
    if person.disabled_at is not None:
        raise Conflict("account_disabled", Text(
            "The account of %(email)s is disabled: enable it first.", email=person.email))


def _lock_admins(conn: Connection) -> list[int]:
    """Lock the rows of the enabled admins (in id order, so two callers never deadlock)
    until the transaction ends; their ids."""
    u = console_users.c
    return list(conn.execute(
        select(u.id).where(u.role == "admin", u.disabled_at.is_(None))
        .order_by(u.id).with_for_update()).scalars())


def _keep_an_admin(conn: Connection, losing: int) -> None:
    """Conflict when account ``losing`` is the only enabled admin (locked by the caller)."""
    if not set(_lock_admins(conn)) - {losing}:
        raise Conflict("last_admin", Text(
            "The console would have no admin left: make another account an admin first."))
