"""Tables of the web console (SQLAlchemy Core); migration 0011 creates them.

Console users are people, not API keys: they sign in with a local password
or OpenID Connect and act, through their session, as one API key (the
tenant the REST API would see). Sessions are stored by the sha256 of the
opaque id in the cookie, so a database dump holds no usable session.
The console's recipient grids are recipient lists (``recipient_lists`` in
``mail``) since migration 0016.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.tables.metadata import metadata

#: Console roles, weakest first: viewer reads, editor writes templates, grids
#: and plans, admin also chooses the API key the console acts as.
ROLES = ("viewer", "editor", "admin")

console_users = Table(
    "console_users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    #: Lower-cased; the sign-in identity for local and OIDC accounts alike.
    Column("email", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False, server_default="viewer"),
    #: argon2id hash (argon2-cffi); NULL for an account that signs in by OIDC only.
    Column("password_hash", Text),
    #: ``iss sub`` of the OIDC identity last seen for this email.
    Column("oidc_subject", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_login_at", DateTime(timezone=True)),
    Column("disabled_at", DateTime(timezone=True)),
    CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")",
                    name="console_role_valid"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    #: sha256 (hex) of the cookie's opaque value.
    Column("id_hash", Text, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("console_users.id", ondelete="CASCADE"),
           nullable=False),
    #: The token every state-changing request of this session must carry.
    Column("csrf", Text, nullable=False),
    #: The API key the console acts as for this session (its tenant).
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id", ondelete="SET NULL")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("console_sessions_expiry", "expires_at"),
)


#: Who did what, when, from where (migration 0017): every state-changing action
#: of the console, and key, suppression and requeue actions of the CLI and API.
#: Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
AUDIT_ACTORS = ("console", "cli", "api")
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: console (a person, by email), cli (the operating-system user), api (a key, by id).
    Column("actor_kind", Text, nullable=False),
    Column("actor", Text, nullable=False),
    #: The client address of a console or API request.
    Column("address", Text),
    #: A dotted verb: ``key.create``, ``suppression.remove``, ``messages.requeue``…
    Column("action", Text, nullable=False),
    #: What it was done to (``key 3``, an address, a filter).
    Column("target", Text),
    Column("before", JSONB),
    Column("after", JSONB),
    CheckConstraint("actor_kind IN (" + ", ".join(f"'{a}'" for a in AUDIT_ACTORS) + ")",
                    name="audit_actor_kind_valid"),
    Index("audit_log_at", "at"),
    Index("audit_log_action_at", "action", "at"),
)
