"""Sender identities (admins only): the domains and addresses the SES account may send
from, their verification and DKIM states, and the API keys that send from each.

Read from SES on each visit (``shared.identities``: ListEmailIdentities, then
GetEmailIdentity for the DKIM state); an SES that cannot answer (no
credentials, throttled, unreachable) is said on the page with what to do, never
a 500. Which keys send from an identity follows the keys' own sender rule.
"""

from __future__ import annotations

import logging

import falcon

from services.console.web import Page
from shared.db.keys import list_keys
from shared.identities import (
    SesUnavailable,
    identity_client,
    keys_by_identity,
    read_identities,
    unserved_domains,
)

log = logging.getLogger("mailpipe.console")

#: The chip colour of each SES status (the message states' colours: ok, waiting, bad).
STATUS_CHIPS = {"SUCCESS": "s-delivered", "PENDING": "s-queued", "FAILED": "s-failed",
                "TEMPORARY_FAILURE": "s-failed", "NOT_STARTED": "s-pending"}


class IdentitiesPage(Page):
    roles = {"GET": "admin"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        identities, problem = [], None
        try:
            identities = read_identities(identity_client(self.console.settings))
        except SesUnavailable as exc:
            log.warning("sender identities not read from SES: %s", exc)
            problem = exc
        with self.console.engine.connect() as conn:
            keys = list_keys(conn)
        self.console.render(
            req, resp, "identities.html", identities=identities, problem=problem,
            served=keys_by_identity(identities, keys),
            unserved=unserved_domains(identities, keys) if problem is None else {},
            unrestricted=[k for k in keys if k.revoked_at is None and not k.allowed_domains],
            chips=STATUS_CHIPS, partly=[i for i in identities if i.problem is not None])
