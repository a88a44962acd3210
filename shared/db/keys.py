"""API keys: created once, stored as a sha256 hash, looked up by hash; the domains a key
allows, for senders and for the web pages that call the fureweb post (CORS); its rates.

What an operator sets on a key (``KeySettings``: name, sender domains, send-rate
cap, intake rate, SES configuration set) is checked by one set of rules, whoever
sets it: the console's keys page and ``mailpipe keys``. Creating, changing and
revoking a key with an ``actor`` records it in the audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Connection,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import Text as SqlText
from sqlalchemy.dialects.postgresql import ARRAY

from shared.db.audit import Actor, record
from shared.db.tables import api_keys
from shared.errors import InvalidRequest
from shared.i18n import Text

KEY_PREFIX = "mp_"
MAX_NAME = 100
MAX_DOMAINS = 50
#: Above any SES account's send rate and any sane request rate: a typo, not a setting.
MAX_RATE = 100_000.0
#: A key's ``last_used_at`` is written at most this often (``note_use``).
LAST_USED_EVERY_SECONDS = 60
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
#: An SES configuration set's name: letters, digits, hyphens and underscores, at most 64.
_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    key_prefix: str
    allowed_domains: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    #: Recipients per second this key's messages may use of the fleet's rate.
    max_send_rate: float | None = None
    #: API requests per second this key may make; None: ``MAILPIPE_INTAKE_RATE``.
    intake_rate: float | None = None
    #: When a request last authenticated with it (to the minute: ``note_use``).
    last_used_at: datetime | None = None
    #: The SES configuration set its sends name; None: MAILPIPE_SES_CONFIGURATION_SET.
    ses_configuration_set: str | None = None

    @property
    def settings(self) -> KeySettings:
        return KeySettings(self.name, self.allowed_domains, self.max_send_rate,
                           self.intake_rate, self.ses_configuration_set)

    def allows_sender(self, address: str) -> bool:
        """True when the key names no domains, or the address is in one of them."""
        if not self.allowed_domains:
            return True
        domain = address.rpartition("@")[2].lower()
        return domain in self.allowed_domains

    def allows_origin_host(self, host: str) -> bool:
        """True when ``host`` (a web page's, lower case) is one of the key's domains or a
        subdomain of one (www.example.com for example.com). A key without domains was
        registered for no web site: it allows no origin."""
        return any(d in domain_suffixes(host) for d in self.allowed_domains)


@dataclass(frozen=True)
class KeySettings:
    """What an operator sets on a key; a rate of None is the fleet's."""

    name: str
    domains: tuple[str, ...] = field(default=())
    max_send_rate: float | None = None
    intake_rate: float | None = None
    #: None: the fleet's (MAILPIPE_SES_CONFIGURATION_SET).
    configuration_set: str | None = None

    def checked(self) -> KeySettings:
        """These settings as stored (name trimmed, domains lower-cased, IDNA-encoded and
        unique); InvalidRequest naming the field that breaks a rule."""
        name = self.name.strip()
        if not name or len(name) > MAX_NAME or any(not c.isprintable() for c in name):
            raise InvalidRequest("invalid_key_name", Text(
                "a key's name is 1 to %(max)s printable characters", max=MAX_NAME),
                field="name")
        domains = tuple(dict.fromkeys(normal_domain(d) for d in self.domains if d.strip()))
        if len(domains) > MAX_DOMAINS:
            raise InvalidRequest("too_many_domains", Text(
                "a key allows at most %(max)s sender domains", max=MAX_DOMAINS),
                field="domains")
        configuration_set = (self.configuration_set or "").strip() or None
        if configuration_set is not None and not _CONFIGURATION_SET.fullmatch(
                configuration_set):
            raise InvalidRequest("invalid_configuration_set", Text(
                "an SES configuration set's name is 1 to 64 letters, digits, hyphens and "
                "underscores"), field="configuration_set")
        return KeySettings(name, domains, _rate(self.max_send_rate, "max_send_rate"),
                           _rate(self.intake_rate, "intake_rate"), configuration_set)

    def audited(self) -> dict:
        """As the audit log shows a key's settings (``before`` and ``after``)."""
        return {**asdict(self), "domains": list(self.domains)}


def normal_domain(value: str) -> str:
    """A sender domain as keys store it: lower case, a Unicode name in its IDNA (xn--)
    form, no trailing dot; InvalidRequest when it is no domain an address can have."""
    domain = value.strip().rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # refused just below, as written
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        raise InvalidRequest("invalid_domain", Text(
            "'%(domain)s' is not a domain name (like example.com)", domain=value.strip()),
            field="domains")
    return domain


def _rate(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= MAX_RATE):
        raise InvalidRequest("invalid_rate", Text(
            "a rate is a number per second above 0 and at most %(max)s; leave it empty "
            "for the fleet's", max=int(MAX_RATE)), field=name)
    return float(value)


def domain_suffixes(host: str) -> list[str]:
    """``a.b.example.com`` and every domain above it: the registered domains it falls under."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def some_key_allows_origin_host(conn: Connection, host: str) -> bool:
    """Whether an unrevoked key names ``host`` or a domain above it (one query on the
    partial GIN index ``api_keys_allowed_domains``; no locks)."""
    return conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL "
             "AND allowed_domains && :domains)").bindparams(
            bindparam("domains", type_=ARRAY(SqlText))),
        {"domains": domain_suffixes(host)},
    ).scalar_one()


def hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _row_to_key(row) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        key_prefix=row.key_prefix,
        allowed_domains=tuple(row.allowed_domains),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        max_send_rate=row.max_send_rate,
        intake_rate=row.intake_rate,
        last_used_at=row.last_used_at,
        ses_configuration_set=row.ses_configuration_set,
    )


def create_key(
    conn: Connection, name: str, domains: list[str], max_send_rate: float | None = None, *,
    intake_rate: float | None = None, configuration_set: str | None = None,
    actor: Actor | None = None,
) -> tuple[ApiKey, str]:
    """Insert a new key (its settings checked: InvalidRequest); returns it and the plain
    key, which is never stored. With ``actor``, audited as ``key.create``."""
    settings = KeySettings(name, tuple(domains), max_send_rate, intake_rate,
                           configuration_set).checked()
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        insert(api_keys)
        .values(
            name=settings.name,
            key_hash=hash_key(plain),
            key_prefix=plain[:10],
            allowed_domains=list(settings.domains),
            max_send_rate=settings.max_send_rate,
            intake_rate=settings.intake_rate,
            ses_configuration_set=settings.configuration_set,
        )
        .returning(api_keys)
    ).one()
    key = _row_to_key(row)
    if actor is not None:
        record(conn, actor, "key.create", f"key {key.id}",
               after={**settings.audited(), "prefix": key.key_prefix})
    return key, plain


def find_active_key(conn: Connection, plain: str) -> ApiKey | None:
    """The unrevoked key whose hash matches ``plain``, else None."""
    row = conn.execute(
        select(api_keys).where(
            api_keys.c.key_hash == hash_key(plain), api_keys.c.revoked_at.is_(None)
        )
    ).one_or_none()
    return _row_to_key(row) if row else None


def get_key(conn: Connection, key_id: int, *, for_update: bool = False) -> ApiKey | None:
    """Key ``key_id``, revoked or not; ``for_update`` locks its row until the transaction ends."""
    query = select(api_keys).where(api_keys.c.id == key_id)
    row = conn.execute(query.with_for_update() if for_update else query).one_or_none()
    return _row_to_key(row) if row else None


def list_keys(conn: Connection) -> list[ApiKey]:
    return [_row_to_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.id))]


def change_key(conn: Connection, key_id: int, settings: KeySettings, *,
               actor: Actor | None = None) -> ApiKey | None:
    """Give the unrevoked key ``key_id`` these settings (checked: InvalidRequest); None
    when there is no such key. Locks the key's row; with ``actor``, audited as
    ``key.change`` with the settings before and after (nothing when nothing changed)."""
    settings = settings.checked()
    before = get_key(conn, key_id, for_update=True)
    if before is None or before.revoked_at is not None:
        return None
    if before.settings == settings:
        return before
    row = conn.execute(
        update(api_keys).where(api_keys.c.id == key_id)
        .values(name=settings.name, allowed_domains=list(settings.domains),
                max_send_rate=settings.max_send_rate, intake_rate=settings.intake_rate,
                ses_configuration_set=settings.configuration_set)
        .returning(api_keys)
    ).one()
    if actor is not None:
        record(conn, actor, "key.change", f"key {key_id}", before=before.settings.audited(),
               after=settings.audited())
    return _row_to_key(row)


def revoke_key(conn: Connection, key_id: int, *, actor: Actor | None = None) -> bool:
    """Revoke a key; False when there is no such unrevoked key. With ``actor``, audited
    as ``key.revoke`` (the key's settings as ``before``)."""
    row = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(api_keys)
    ).one_or_none()
    if row is not None and actor is not None:
        record(conn, actor, "key.revoke", f"key {key_id}",
               before=_row_to_key(row).settings.audited(),
               after={"revokedAt": row.revoked_at.isoformat()})
    return row is not None


_NOTE_USE = text(
    f"""
    UPDATE api_keys SET last_used_at = now()
     WHERE id = :id
       AND (last_used_at IS NULL
            OR last_used_at < now() - make_interval(secs => {LAST_USED_EVERY_SECONDS}))
    """
)


def used_recently(key: ApiKey, now: datetime) -> bool:
    """Whether ``key``'s ``last_used_at`` (as read with it) is recent enough to leave alone."""
    return key.last_used_at is not None and \
        (now - key.last_used_at).total_seconds() < LAST_USED_EVERY_SECONDS


def authenticated_key(conn: Connection, plain: str) -> ApiKey | None:
    """The active key ``plain`` names (None: unknown or revoked), its use noted at most
    once a minute (``note_use``, committed on ``conn``): how the API and SMTP AUTH take a
    key."""
    key = find_active_key(conn, plain)
    if key is not None and not used_recently(key, datetime.now(UTC)):
        note_use(conn, key.id)
        conn.commit()
    return key


def note_use(conn: Connection, key_id: int) -> None:
    """Set the key's ``last_used_at`` to now, unless it is under a minute old.

    Called by authentication only when the time it read with the key is older
    (``used_recently``), so a busy key costs one write a minute, not one per
    request; the condition in the statement makes processes racing on the same
    minute write once (the others' UPDATE matches no row and takes no lock).
    """
    conn.execute(_NOTE_USE, {"id": key_id})


def send_rate_caps(conn: Connection, message_ids: list[int]) -> dict[int, tuple[int, float]]:
    """{message id: (key id, cap)} for those of ``message_ids`` whose key has a send cap."""
    rows = conn.execute(
        text("""SELECT m.id, k.id AS key_id, k.max_send_rate
                  FROM messages m JOIN api_keys k ON k.id = m.api_key_id
                 WHERE m.id = ANY(:ids) AND k.max_send_rate IS NOT NULL""").bindparams(
            bindparam("ids", type_=ARRAY(BigInteger))),
        {"ids": message_ids},
    )
    return {r.id: (r.key_id, r.max_send_rate) for r in rows}

