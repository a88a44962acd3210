"""What is wrong with the SES account for mailpipe, each problem with what to do about it.

``problems`` reads one ``Reading`` (shared.ses.account) with what mailpipe
itself knows: the addresses and domains it sends from, where SNS reaches it,
which topics it accepts, the newest event SNS brought. Each ``Problem`` has a
stable ``code`` (for scripts and tests) and its words as ``Text``, translated
where they are shown. The checks follow the path of a message and of its
feedback: the account may send, the sender is verified, the configuration set
exists and sends its events to SNS, and SNS's events arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from shared.db.feedback import SnsArrival
from shared.db.keys import ApiKey
from shared.i18n import Text, ntext
from shared.ses.account import Identity, Reading, SesUnavailable, confirmed

#: SES event types without which mailpipe's record of a message is wrong: a delivered
#: message stays `sent`, a bounced address is not suppressed, a complaint goes unheard.
ESSENTIAL_TYPES = ("DELIVERY", "BOUNCE", "COMPLAINT")
#: Every SES event type mailpipe records (shared/events/ses.py), for the setup advice.
RECORDED_TYPES = ("SEND", "REJECT", "DELIVERY", "BOUNCE", "COMPLAINT", "DELIVERY_DELAY",
                  "RENDERING_FAILURE")
#: The share of the 24-hour quota past which it is a problem.
QUOTA_WARNING = 0.9
#: Sends in the last 24 hours with no event for this long: the feedback is not arriving.
SILENCE = timedelta(hours=24)


@dataclass(frozen=True)
class Problem:
    code: str
    what: Text
    fix: Text


@dataclass(frozen=True)
class Sender:
    """An address or domain mailpipe sends from (MAILPIPE_DEFAULT_FROM, a key's domains)."""

    #: A domain (``example.com``) or an address (``news@example.com``), lower case.
    name: str

    @property
    def domain(self) -> str:
        return self.name.rpartition("@")[2]


#: Where SNS delivers SES's events (services/api/resources/sns.py).
EVENTS_PATH = "/v1/events/results"


def events_url(public_url: str) -> str:
    """The HTTPS subscription's endpoint: MAILPIPE_PUBLIC_URL + ``EVENTS_PATH``."""
    return public_url.rstrip("/") + EVENTS_PATH


def sending_from(default_from: str | None, keys: Iterable[ApiKey]
                 ) -> dict[Sender, list[str | None]]:
    """What mailpipe sends from → who does: None for the default From
    (MAILPIPE_DEFAULT_FROM, its address), else the name of each active key restricted to
    that domain. A key restricted to no domain sends from whatever a request names."""
    found: dict[Sender, list[str | None]] = {}
    address = parseaddr(default_from or "")[1].lower()
    if "@" in address:
        found[Sender(address)] = [None]
    for key in keys:
        if key.revoked_at is None:
            for domain in key.allowed_domains:
                found.setdefault(Sender(domain.lower()), []).append(key.name)
    return found


def covering_identity(sender: Sender, identities: tuple[Identity, ...]) -> Identity | None:
    """The identity SES sends ``sender``'s mail under: the address itself, its domain or a
    parent domain (a verified domain covers its subdomains); a verified one first."""
    domain = sender.domain
    candidates = [i for i in identities
                  if (i.kind == "EMAIL_ADDRESS" and i.name.lower() == sender.name)
                  or (i.kind != "EMAIL_ADDRESS"
                      and (domain == i.name.lower() or domain.endswith("." + i.name.lower())))]
    candidates.sort(key=lambda i: (not i.verified, not i.sending_enabled))
    return candidates[0] if candidates else None


def unreadable(exc: SesUnavailable) -> Problem:
    """Why SES could not be read, and what to do, by ``exc.reason``."""
    what, fix = {
        "no_credentials": (
            Text("mailpipe has no AWS credentials to read SES with."),
            Text("Give the api process credentials the standard AWS way: "
                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance or "
                 "task role.")),
        "no_region": (
            Text("No AWS region is configured, so mailpipe does not know which SES to ask."),
            Text("Set AWS_REGION to the region you send in: the sandbox, the quota and the "
                 "identities of an SES account are per region.")),
        "credentials_refused": (
            Text("AWS refused mailpipe's credentials: they are wrong, expired or revoked, or "
                 "this machine's clock is off."),
            Text("Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the role the api runs "
                 "with) and the clock.")),
        "access_denied": (
            Text("mailpipe's credentials may not read the SES account (%(operation)s was "
                 "denied).", operation=exc.operation),
            Text("Allow ses:GetAccount, ses:ListEmailIdentities, ses:GetConfigurationSet and "
                 "ses:GetConfigurationSetEventDestinations in the IAM policy of the "
                 "credentials mailpipe uses.")),
        "throttled": (
            Text("SES is throttling requests to read the account."),
            Text("Reload in a minute. This page asks SES at most once every 30 seconds; "
                 "something else may be calling SES often with the same account.")),
        "unreachable": (
            Text("SES could not be reached."),
            Text("Check the network path from the api to SES (proxy, firewall, DNS) and "
                 "AWS_ENDPOINT_URL_SESV2 if it is set; the AWS Health Dashboard says whether "
                 "SES is down in the region.")),
    }.get(exc.reason, (
        Text("SES answered %(operation)s with an error.", operation=exc.operation),
        Text("Reload in a minute; the detail below is SES's own answer.")))
    return Problem(exc.reason, what, fix)


def problems(reading: Reading, *, senders: list[Sender], events_url: str,
             topic_arns: frozenset[str], last_event: SnsArrival | None,
             now: datetime) -> list[Problem]:
    """Everything found wrong, the account's state first, then the senders, then the
    feedback loop (the destination topics' subscriptions when the reading has them);
    empty when mailpipe can send and hear back."""
    found = _account(reading) + _senders(reading, senders)
    loop = _configuration_set(reading, events_url, topic_arns, last_event)
    if not loop:
        loop = _subscriptions(reading, events_url)
    if not loop:
        loop = _silence(reading, events_url, last_event, now)
    return found + loop


def key_set_problems(missing: dict[str, list[str]], events_url: str) -> list[Problem]:
    """``missing``: each configuration set keys name that SES does not have → those keys'
    names. SES refuses every send naming one, so each is a problem."""
    return [Problem("key_configuration_set_missing", Text(
        "The configuration set %(name)s, which the API keys %(keys)s name, does not exist in "
        "SES: SES refuses every message they send.", name=name, keys=", ".join(keys)), Text(
        "Create it with mailpipe ses setup --public-url %(public)s --configuration-set "
        "%(name)s, or give the keys the fleet's set back: mailpipe keys change ID "
        "--fleet-configuration-set.", public=_public(events_url), name=name))
        for name, keys in sorted(missing.items())]


def _subscriptions(reading: Reading, events_url: str) -> list[Problem]:
    if "subscriptions" in reading.errors:
        problem = unreadable(reading.errors["subscriptions"])
        return [Problem("subscriptions_unreadable", Text(
            "The SNS subscriptions could not be read: %(why)s", why=problem.what), Text(
            "Allow sns:ListSubscriptionsByTopic in the IAM policy of the credentials mailpipe "
            "uses; %(fix)s", fix=problem.fix))]
    found = []
    for topic, arn in (reading.subscriptions or {}).items():
        if arn is None:
            found.append(Problem("subscription_missing", Text(
                "The SNS topic %(topic)s has no subscription to %(url)s: SES's events "
                "never reach mailpipe.", topic=topic, url=events_url), Text(
                "Run mailpipe ses setup --public-url %(public)s (it subscribes the topic; the "
                "api confirms the subscription itself).", public=_public(events_url))))
        elif not confirmed(arn):
            found.append(Problem("subscription_pending", Text(
                "The subscription of %(topic)s to %(url)s is not confirmed: SNS delivers "
                "nothing to it until the api confirms it.", topic=topic, url=events_url), Text(
                "Make sure %(url)s is reachable from the internet and MAILPIPE_SNS_TOPIC_ARNS "
                "accepts the topic, then run mailpipe ses setup again: SNS sends its "
                "confirmation again and the api confirms it.", url=events_url)))
    return found


def _account(reading: Reading) -> list[Problem]:
    account, region = reading.account, reading.region or "?"
    found = []
    if not account.production:
        found.append(Problem("sandbox", Text(
            "The account is in the SES sandbox (region %(region)s): it can send only to "
            "addresses and domains verified in SES, at most 200 messages in 24 hours and 1 "
            "message per second. Mail to anyone else is refused.", region=region),
            _production_access(account.review, account.review_case, region)))
    if not account.sending_enabled:
        found.append(Problem("sending_disabled", Text(
            "SES has disabled sending for this account: every message is refused."), Text(
            "Find the reason in AWS's email to the account and in the SES console (Account "
            "dashboard, Reputation metrics); once it is fixed, enable sending again: aws "
            "sesv2 put-account-sending-attributes --sending-enabled")))
    if account.enforcement == "PROBATION":
        found.append(Problem("probation", Text(
            "SES has put the account under review (enforcement status: probation), usually "
            "for too many bounces or complaints: if the rates do not fall, SES stops its "
            "sending."), Text(
            "See why in the SES console (Reputation metrics) and AWS's email; stop sending to "
            "the lists that bounce or complain, and answer AWS's case in the Support Center "
            "once the cause is fixed.")))
    elif account.enforcement == "SHUTDOWN":
        found.append(Problem("shutdown", Text(
            "SES has shut down this account's sending (enforcement status: shutdown)."), Text(
            "Answer AWS's case about it in the Support Center; SES does not resume by "
            "itself.")))
    elif account.enforcement != "HEALTHY":
        found.append(Problem("enforcement", Text(
            "SES reports the enforcement status %(status)s for this account.",
            status=account.enforcement), Text(
            "See the SES console (Account dashboard, Reputation metrics).")))
    used = account.quota_used
    if used is not None and used >= QUOTA_WARNING:
        found.append(Problem("quota", Text(
            "%(percent)s%% of the 24-hour quota is used: SES refuses mail once it runs out, "
            "until the oldest sends are a day old.", percent=round(100 * used)), Text(
            "Ask for a higher quota: AWS console → Service Quotas → Amazon Simple Email "
            "Service → Sending quota → Request increase.")))
    return found


def _production_access(review: str | None, case: str | None, region: str) -> Text:
    if review == "PENDING":
        return Text("Production access was requested (case %(case)s) and is being reviewed: "
                    "AWS answers in that Support Center case, usually within a day.",
                    case=case or "?")
    if review in ("DENIED", "FAILED"):
        return Text("The request for production access was not granted (case %(case)s): read "
                    "AWS's answer in the Support Center, then ask again with what it asks "
                    "for (SES console → Account dashboard → Request production access).",
                    case=case or "?")
    return Text("Request production access in the SES console (region %(region)s): Account "
                "dashboard → Request production access. Say what mail you send and how "
                "bounces and complaints are handled (mailpipe suppresses them); AWS answers "
                "within about a day.", region=region)


def _senders(reading: Reading, senders: list[Sender]) -> list[Problem]:
    if "identities" in reading.errors:
        problem = unreadable(reading.errors["identities"])
        return [Problem("identities_unreadable", Text(
            "The identities could not be read: %(why)s", why=problem.what), problem.fix)]
    identities, region = reading.identities or (), reading.region or "?"
    if not senders and not any(i.verified for i in identities):
        return [Problem("no_identity", Text(
            "The account has no verified identity (region %(region)s): SES refuses mail from "
            "every address.", region=region), _verify(Sender("example.com")))]
    found = []
    for sender in senders:
        identity = covering_identity(sender, identities)
        if identity is None:
            found.append(Problem("identity_missing", Text(
                "mailpipe sends from %(sender)s, which is not an identity in SES (region "
                "%(region)s): SES refuses its mail.", sender=sender.name, region=region),
                _verify(sender)))
        elif not identity.verified:
            found.append(Problem("identity_unverified", Text(
                "%(identity)s, which mailpipe sends from, is not verified in SES "
                "(%(status)s): SES refuses its mail.", identity=identity.name,
                status=identity.status), Text(
                "Publish the DNS records SES shows for it (SES console → Identities → "
                "%(identity)s) and wait for SES to check them; an address is verified by "
                "the link SES mails to it.", identity=identity.name)))
        elif not identity.sending_enabled:
            found.append(Problem("identity_paused", Text(
                "Sending is disabled for the identity %(identity)s: SES refuses its mail.",
                identity=identity.name), Text(
                "Enable it in the SES console (Identities → %(identity)s).",
                identity=identity.name)))
    return found


def _verify(sender: Sender) -> Text:
    if "@" in sender.name:
        return Text("Verify the domain %(domain)s (SES console → Identities → Create identity "
                    "→ Domain, then publish the DKIM records SES shows), or only the address "
                    "%(address)s (Create identity → Email address, then open the link SES "
                    "mails to it).", domain=sender.domain, address=sender.name)
    return Text("Verify it: SES console → Identities → Create identity → Domain %(domain)s, "
                "then publish the DKIM records SES shows in its DNS.", domain=sender.domain)


def _setup(events_url: str) -> Text:
    return Text("event types Sends, Rejects, Deliveries, Hard bounces, Complaints, Delivery "
                "delays and Rendering failures; destination Amazon SNS, to a topic with an "
                "HTTPS subscription to %(url)s (mailpipe confirms it itself; raw message "
                "delivery off).", url=events_url)


def _public(events_url: str) -> str:
    """The public URL an events URL was made of (``events_url``)."""
    return events_url.removesuffix(EVENTS_PATH)


def _configuration_set(reading: Reading, events_url: str, topic_arns: frozenset[str],
                       last_event: SnsArrival | None) -> list[Problem]:
    name = reading.configuration_set_name
    if "configuration_set" in reading.errors:
        problem = unreadable(reading.errors["configuration_set"])
        return [Problem("configuration_set_unreadable", Text(
            "The configuration set %(name)s could not be read: %(why)s", name=name,
            why=problem.what), problem.fix)]
    if name is None:
        if last_event is not None:
            return []  # events arrive some other way (an identity's default set, …)
        return [Problem("no_configuration_set", Text(
            "mailpipe names no configuration set (MAILPIPE_SES_CONFIGURATION_SET) and no SES "
            "event has reached it: deliveries, bounces and complaints go unrecorded, and "
            "bouncing addresses are not suppressed."), Text(
            "Run mailpipe ses setup --public-url %(public)s, unset MAILPIPE_SES_CONFIGURATION_SET "
            "(its default is the set setup makes) and restart the senders.",
            public=_public(events_url)))]
    found_set = reading.configuration_set
    if found_set is None:
        return [Problem("configuration_set_missing", Text(
            "The configuration set %(name)s (MAILPIPE_SES_CONFIGURATION_SET) does not exist "
            "in SES (region %(region)s): the senders name none, so SES's deliveries, bounces "
            "and complaints do not come back to mailpipe.", name=name,
            region=reading.region or "?"), Text(
            "Run mailpipe ses setup --public-url %(public)s (it makes the set, the SNS topic, "
            "the event destination and the subscription); the senders name it within five "
            "minutes.",
            public=_public(events_url)))]
    found = []
    if not found_set.sending_enabled:
        found.append(Problem("configuration_set_paused", Text(
            "Sending is paused for the configuration set %(name)s: SES refuses every message "
            "that names it.", name=name), Text(
            "Resume it: aws sesv2 put-configuration-set-sending-options "
            "--configuration-set-name %(name)s --sending-enabled", name=name)))
    sns = [d for d in found_set.destinations if d.kind == "SNS"]
    enabled = [d for d in sns if d.enabled]
    if not sns:
        found.append(Problem("no_event_destination", Text(
            "The configuration set %(name)s has no SNS event destination: mailpipe hears of "
            "no delivery, bounce or complaint.", name=name), Text(
            "Run mailpipe ses setup --public-url %(public)s, or add one by hand: SES console "
            "→ Configuration sets → %(name)s → Event destinations → Add destination; "
            "%(setup)s", public=_public(events_url), name=name, setup=_setup(events_url))))
    elif not enabled:
        names = ", ".join(d.name for d in sns)
        found.append(Problem("event_destination_disabled", Text(
            "The SNS event destination %(destination)s of %(name)s is turned off: SES sends "
            "it no events.", destination=names, name=name), Text(
            "Enable it: SES console → Configuration sets → %(name)s → Event destinations.",
            name=name)))
    if enabled:
        passed = frozenset().union(*(d.types for d in enabled))
        missing = [t for t in ESSENTIAL_TYPES if t not in passed]
        if missing:
            found.append(Problem("event_types_missing", Text(
                "The SNS event destination of %(name)s does not pass on %(types)s events: "
                "mailpipe does not hear of them.", name=name, types=", ".join(missing)), Text(
                "Run mailpipe ses setup --public-url %(public)s (it adds them to its own "
                "destination), or edit it: SES console → Configuration sets → %(name)s → Event "
                "destinations.", public=_public(events_url), name=name)))
        for destination in enabled:
            if topic_arns and destination.topic_arn not in topic_arns:
                found.append(Problem("topic_not_accepted", Text(
                    "The event destination %(destination)s publishes to %(topic)s, which "
                    "MAILPIPE_SNS_TOPIC_ARNS does not list: mailpipe refuses its "
                    "notifications.", destination=destination.name,
                    topic=destination.topic_arn or "?"), Text(
                    "Add %(topic)s to MAILPIPE_SNS_TOPIC_ARNS and restart the api.",
                    topic=destination.topic_arn or "?")))
    return found


def _silence(reading: Reading, events_url: str, last_event: SnsArrival | None,
             now: datetime) -> list[Problem]:
    """Sends in SES's last 24 hours but no event for a day: the loop is configured in SES
    but its notifications do not arrive (the subscription is not confirmed, …)."""
    sent = reading.account.sent_24h
    if sent <= 0 or (last_event is not None and now - last_event.occurred_at < SILENCE):
        return []
    what = (ntext("SES reports %(num)s message sent in the last 24 hours, but no SES event "
                  "has ever reached mailpipe.",
                  "SES reports %(num)s messages sent in the last 24 hours, but no SES event "
                  "has ever reached mailpipe.", int(sent)) if last_event is None else
            ntext("SES reports %(num)s message sent in the last 24 hours, but no SES event "
                  "has reached mailpipe for more than a day.",
                  "SES reports %(num)s messages sent in the last 24 hours, but no SES event "
                  "has reached mailpipe for more than a day.", int(sent)))
    return [Problem("no_events", what, Text(
        "Check the SNS topic's subscription to %(url)s: it must be confirmed (SNS console → "
        "Topics → the topic → Subscriptions), the address reachable from the internet, and "
        "raw message delivery off.", url=events_url))]
