"""The SES account (every role reads it; nothing changes here): sandbox or production and
what that means, the send rate, the 24-hour quota and its use, sending, enforcement; the
addresses and domains mailpipe sends from against the account's identities; the
configuration set, its SNS event destination, the destination topics' subscriptions to
the api and the newest event SNS brought; each problem with what to do (``shared.ses``),
as ``mailpipe ses status`` says them.

SES is asked through ``AccountReader`` at most every 30 seconds per api process, with
the client the sender uses; an SES that cannot be read (no credentials, access denied,
throttled, unreachable) is said on the page with what to do, never a 500.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import falcon

from services.console.web import Page
from services.ses import sns_client
from shared.db.feedback import newest_sns_event
from shared.db.keys import list_keys
from shared.events.sns import parse_topic_arns
from shared.ses.account import AccountReader, Reading, SesUnavailable
from shared.ses.checks import (
    Sender,
    covering_identity,
    events_url,
    problems,
    sending_from,
    unreadable,
)
from shared.transports.ses import ses_client

log = logging.getLogger("mailpipe.console")


class SesPage(Page):
    def __init__(self, console) -> None:
        super().__init__(console)
        deps, settings = console.deps, console.settings
        self.reader = AccountReader(
            lambda: deps.ses or ses_client(settings, max_connections=2),
            settings.ses_configuration_set,
            make_sns=lambda: deps.sns or sns_client(settings),
            events_url=events_url(settings.public_url))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        settings = self.console.settings
        with self.console.engine.connect() as conn:
            last_event = newest_sns_event(conn)
            senders = sending_from(settings.default_from, list_keys(conn))
        values = {"transport": settings.transport, "last_event": last_event,
                  "events_url": events_url(settings.public_url),
                  "configuration_set_name": settings.ses_configuration_set,
                  "reading": None, "failure": None, "problems": [], "senders": []}
        try:
            reading = self.reader.reading()
        except SesUnavailable as exc:
            log.warning("the SES account could not be read: %s", exc)
            values.update(failure=exc, failure_problem=unreadable(exc))
        else:
            values.update(reading=reading, **self._checked(reading, senders, last_event,
                                                           values["events_url"]))
        self.console.render(req, resp, "ses.html", **values)

    def _checked(self, reading: Reading, senders: dict[Sender, list[str | None]],
                 last_event, url: str) -> dict:
        identities = reading.identities or ()
        return {
            "problems": problems(
                reading, senders=list(senders), events_url=url,
                topic_arns=parse_topic_arns(self.console.settings.sns_topic_arns),
                last_event=last_event, now=datetime.now(UTC)),
            "senders": [(sender, users, covering_identity(sender, identities))
                        for sender, users in senders.items()],
            "verified": sum(1 for i in identities if i.verified),
        }
