"""``mailpipe admins``: local console accounts (create or reset, list), and the first one
that ``mailpipe up`` makes."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine

from services.console.passwords import hash_password, new_password
from shared.db.audit import Actor
from shared.db.console_accounts import count_users, list_users
from shared.db.people import add_local
from shared.db.tables import ROLES
from shared.errors import RequestError
from shared.intake.addresses import is_valid_address

#: The account ``mailpipe up`` creates on its first start.
LOCAL_ADMIN = "admin@localhost.localdomain"


def add_parser(sub) -> None:
    admins = sub.add_parser("admins", help="manage web console accounts")
    admins_sub = admins.add_subparsers(dest="admins_command", required=True)
    create = admins_sub.add_parser(
        "create", help="create a local account (or reset its password) and print the "
        "password once")
    create.add_argument("email")
    create.add_argument("--role", choices=ROLES, default="admin")
    admins_sub.add_parser("list", help="list console accounts")


def create_account(engine: Engine, email: str, role: str, *, actor: Actor | None = None,
                   replace: bool = True) -> str:
    """Create a local account, or with ``replace`` reset the password (and role) of an
    existing one; returns its new password, which is not stored. With ``actor``, recorded
    in the audit log in the same transaction (``shared.db.people.add_local``)."""
    password = new_password()
    with engine.begin() as conn:
        add_local(conn, email, role, hash_password(password), actor=actor, replace=replace)
    return password


def first_admin(engine: Engine) -> str | None:
    """On a database without console accounts, create the local admin; its password, or None."""
    with engine.connect() as conn:
        if count_users(conn):
            return None
    return create_account(engine, LOCAL_ADMIN, "admin", actor=Actor.cli())


def run(args: argparse.Namespace, engine: Engine) -> int:
    if args.admins_command == "list":
        with engine.connect() as conn:
            for user in list_users(conn):
                kind = "local" if user.password_hash else "oidc"
                print(f"{user.id}\t{user.email}\t{user.role}\t{kind}")
        return 0
    if not is_valid_address(args.email):
        print(f"{args.email!r} is not an email address", file=sys.stderr)
        return 2
    try:
        password = create_account(engine, args.email, args.role, actor=Actor.cli())
    except RequestError as exc:  # the console's last admin would lose the role
        print(exc.message, file=sys.stderr)
        return 2
    print(f"{args.email.lower()} ({args.role}) can sign in at /ui with the password:")
    print(password)
    print("Store it now: it is not shown again.", file=sys.stderr)
    return 0
