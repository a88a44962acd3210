"""Sender identities (admins only): the domains and addresses the SES account may send
from, their verification and DKIM states, and the API keys that send from each.

Read from SES on each visit (``shared.ses.identities``: ListEmailIdentities, then
GetEmailIdentity for the DKIM state), with the client and the credentials the
sender uses; an SES that cannot answer (no credentials, throttled, unreachable)
is said on the page with what to do (``shared.ses.checks.unreadable``, the SES
page's words), never a 500. Which keys send from an identity follows the keys'
own sender rule.
"""

from __future__ import annotations

import logging

import falcon
from botocore.exceptions import BotoCoreError, ClientError

from services.console.web import Page
from shared.db.keys import list_keys
from shared.i18n import Text
from shared.ses.account import SesUnavailable, unavailable
from shared.ses.checks import Problem, unreadable
from shared.ses.identities import (
    PARALLEL_DETAILS,
    keys_by_identity,
    read_sender_identities,
    unserved_domains,
)
from shared.transports.ses import ses_client

log = logging.getLogger("mailpipe.console")

#: What to do when throttled, for this page (which asks SES on every visit).
THROTTLED_FIX = Text("Reload in a minute: SES limits how often an account may be read, "
                     "whoever reads it.")
#: The chip colour of each SES status (the message states' colours: ok, waiting, bad).
STATUS_CHIPS = {"SUCCESS": "s-delivered", "PENDING": "s-queued", "FAILED": "s-failed",
                "TEMPORARY_FAILURE": "s-failed", "NOT_STARTED": "s-pending"}


class IdentitiesPage(Page):
    roles = {"GET": "admin"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        identities, problem = [], None
        try:
            identities = read_sender_identities(
                ses_client(self.console.settings, max_connections=PARALLEL_DETAILS))
        except (BotoCoreError, ClientError) as exc:  # making the client: no region, …
            problem = unavailable(exc, "ListEmailIdentities")
        except SesUnavailable as exc:
            problem = exc
        if problem is not None:
            log.warning("sender identities not read from SES: %s", problem)
        with self.console.engine.connect() as conn:
            keys = list_keys(conn)
        partly = [i for i in identities if i.problem is not None]
        self.console.render(
            req, resp, "identities.html", identities=identities, chips=STATUS_CHIPS,
            problem=problem, why=_why(problem) if problem else None,
            partly=partly, partly_why=_why(partly[0].problem) if partly else None,
            served=keys_by_identity(identities, keys),
            unserved=unserved_domains(identities, keys) if problem is None else {},
            unrestricted=[k for k in keys if k.revoked_at is None and not k.allowed_domains])


def _why(problem: SesUnavailable) -> Problem:
    """What went wrong and what to do, in the SES page's words (``unreadable``)."""
    why = unreadable(problem)
    return Problem(why.code, why.what, THROTTLED_FIX) if problem.reason == "throttled" else why
