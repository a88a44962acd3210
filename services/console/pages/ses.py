"""The SES account (every role reads it; nothing changes here): sandbox or production and
what that means, the send rate, the 24-hour quota and its use, sending, enforcement; the
addresses and domains mailpipe sends from against the account's identities; the
configuration set, its SNS event destination and the newest event SNS brought; each
problem with what to do (``shared.ses``).

SES is asked through ``AccountReader`` at most every 30 seconds per api process, with
the client the sender uses; an SES that cannot be read (no credentials, access denied,
throttled, unreachable) is said on the page with what to do, never a 500.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parseaddr

import falcon

from services.console.web import Page
from shared.db.feedback import newest_sns_event
from shared.db.keys import ApiKey, list_keys
from shared.events.sns import parse_topic_arns
from shared.ses.account import AccountReader, Reading, SesUnavailable
from shared.ses.checks import Sender, covering_identity, problems, unreadable
from shared.transports.ses import ses_client

log = logging.getLogger("mailpipe.console")

#: Where SNS delivers SES's events (services/api/resources/sns.py).
EVENTS_PATH = "/v1/events/results"


def senders(default_from: str | None, keys: list[ApiKey]) -> dict[Sender, list[str | None]]:
    """What mailpipe sends from → who does: None for the default From (MAILPIPE_DEFAULT_FROM),
    else an active key's name for each domain it is restricted to."""
    found: dict[Sender, list[str | None]] = {}
    address = parseaddr(default_from or "")[1].lower()
    if "@" in address:
        found[Sender(address)] = [None]
    for key in keys:
        if key.revoked_at is None:
            for domain in key.allowed_domains:
                found.setdefault(Sender(domain.lower()), []).append(key.name)
    return found


class SesPage(Page):
    def __init__(self, console) -> None:
        super().__init__(console)
        deps, settings = console.deps, console.settings
        self.reader = AccountReader(
            lambda: deps.ses or ses_client(settings, max_connections=2),
            settings.ses_configuration_set)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        settings = self.console.settings
        with self.console.engine.connect() as conn:
            last_event = newest_sns_event(conn)
            sending_from = senders(settings.default_from, list_keys(conn))
        values = {"transport": settings.transport, "last_event": last_event,
                  "events_url": settings.public_url.rstrip("/") + EVENTS_PATH,
                  "configuration_set_name": settings.ses_configuration_set,
                  "reading": None, "failure": None, "problems": [], "senders": []}
        try:
            reading = self.reader.reading()
        except SesUnavailable as exc:
            log.warning("the SES account could not be read: %s", exc)
            values.update(failure=exc, failure_problem=unreadable(exc))
        else:
            values.update(reading=reading, **self._checked(reading, sending_from, last_event,
                                                           values["events_url"]))
        self.console.render(req, resp, "ses.html", **values)

    def _checked(self, reading: Reading, sending_from: dict[Sender, list[str | None]],
                 last_event, events_url: str) -> dict:
        identities = reading.identities or ()
        return {
            "problems": problems(
                reading, senders=list(sending_from), events_url=events_url,
                topic_arns=parse_topic_arns(self.console.settings.sns_topic_arns),
                last_event=last_event, now=datetime.now(UTC)),
            "senders": [(sender, users, covering_identity(sender, identities))
                        for sender, users in sending_from.items()],
            "verified": sum(1 for i in identities if i.verified),
        }
