"""Each thing that can be wrong with the SES account is found, with what to do; a healthy
production account with its feedback loop wired has no problem."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.db.feedback import SnsArrival
from shared.ses.account import (
    Account,
    ConfigurationSet,
    Destination,
    Identity,
    Reading,
    SesUnavailable,
)
from shared.ses.checks import Sender, covering_identity, problems

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
URL = "https://mail.example.com/v1/events/results"
TOPIC = "arn:aws:sns:us-east-1:123456789012:mailpipe-events"
EVERY = frozenset({"SEND", "REJECT", "DELIVERY", "BOUNCE", "COMPLAINT", "DELIVERY_DELAY",
                   "RENDERING_FAILURE"})
HEALTHY = Account(production=True, review=None, review_case=None, sending_enabled=True,
                  enforcement="HEALTHY", max_send_rate=14, max_24h=50_000, sent_24h=1200)
DOMAIN = Identity("example.com", "DOMAIN", "SUCCESS", True)
SNS = Destination("to-mailpipe", True, EVERY, "SNS", TOPIC)
WIRED = ConfigurationSet("mailpipe", True, (SNS,))
RECENT = SnsArrival("delivered", NOW - timedelta(minutes=3))


def reading(**changes) -> Reading:
    base = Reading("us-east-1", HEALTHY, (DOMAIN,), "mailpipe", WIRED, NOW, {})
    return replace(base, **changes)


def codes(found_in: Reading, senders=("example.com",), topics=frozenset(),
          last_event=RECENT) -> list[str]:
    return [p.code for p in found(found_in, senders, topics, last_event)]


def found(found_in: Reading, senders=("example.com",), topics=frozenset(), last_event=RECENT):
    return problems(found_in, senders=[Sender(s) for s in senders], events_url=URL,
                    topic_arns=topics, last_event=last_event, now=NOW)


def test_a_production_account_with_its_loop_wired_has_no_problem():
    assert codes(reading(), topics=frozenset({TOPIC})) == []


def test_the_sandbox_is_explained_with_how_to_leave_it():
    (problem,) = found(reading(account=replace(HEALTHY, production=False, max_24h=200,
                                                sent_24h=10)))
    assert problem.code == "sandbox"
    assert "only to addresses and domains verified in SES" in str(problem.what)
    assert "200 messages in 24 hours and 1 message per second" in str(problem.what)
    assert "Account dashboard → Request production access" in str(problem.fix)


def test_a_pending_request_for_production_access_says_so_with_its_case():
    (problem,) = found(reading(account=replace(HEALTHY, production=False, review="PENDING",
                                                review_case="170000")))
    assert "170000" in str(problem.fix) and "being reviewed" in str(problem.fix)


@pytest.mark.parametrize(("change", "code"), [
    ({"sending_enabled": False}, "sending_disabled"),
    ({"enforcement": "PROBATION"}, "probation"),
    ({"enforcement": "SHUTDOWN"}, "shutdown"),
    ({"sent_24h": 45_500}, "quota"),
])
def test_the_account_s_own_troubles(change, code):
    assert codes(reading(account=replace(HEALTHY, **change))) == [code]


def test_an_unlimited_quota_is_never_nearly_used():
    assert codes(reading(account=replace(HEALTHY, max_24h=-1, sent_24h=10**9))) == []


def test_a_sender_without_an_identity_is_named_with_how_to_verify_it():
    (problem,) = found(reading(), senders=("example.com", "shop.example"))
    assert problem.code == "identity_missing" and "shop.example" in str(problem.what)
    assert "Create identity → Domain shop.example" in str(problem.fix)


def test_a_verified_domain_covers_its_addresses_and_subdomains():
    assert codes(reading(), senders=("news@example.com", "mail.example.com")) == []
    assert covering_identity(Sender("myexample.com"), (DOMAIN,)) is None


def test_a_verified_address_covers_only_itself():
    address = Identity("me@shop.example", "EMAIL_ADDRESS", "SUCCESS", True)
    identities = (DOMAIN, address)
    assert codes(reading(identities=identities), senders=("me@shop.example",)) == []
    assert codes(reading(identities=identities), senders=("you@shop.example",)) == [
        "identity_missing"]


def test_an_identity_not_yet_verified_or_paused_is_a_problem():
    pending = replace(DOMAIN, status="PENDING")
    assert codes(reading(identities=(pending,))) == ["identity_unverified"]
    assert codes(reading(identities=(replace(DOMAIN, sending_enabled=False),))) == [
        "identity_paused"]


def test_no_verified_identity_at_all_is_a_problem_when_no_sender_is_known():
    assert codes(reading(identities=()), senders=()) == ["no_identity"]


def test_a_missing_configuration_set_says_to_run_setup_with_the_public_url():
    (problem,) = found(reading(configuration_set=None))
    assert problem.code == "configuration_set_missing"
    assert "mailpipe ses setup --public-url https://mail.example.com" in str(problem.fix)
    assert "the senders name none" in str(problem.what)


def test_a_set_without_an_sns_destination_says_what_to_create():
    cloudwatch = Destination("metrics", True, EVERY, "CLOUD_WATCH")
    (problem,) = found(reading(configuration_set=replace(WIRED, destinations=(cloudwatch,))))
    assert problem.code == "no_event_destination"
    assert "Amazon SNS" in str(problem.fix) and URL in str(problem.fix)
    assert "Hard bounces, Complaints" in str(problem.fix)


@pytest.mark.parametrize(("destination", "code"), [
    (replace(SNS, enabled=False), "event_destination_disabled"),
    (replace(SNS, types=frozenset({"SEND", "DELIVERY"})), "event_types_missing"),
])
def test_a_destination_off_or_missing_types(destination, code):
    assert codes(reading(configuration_set=replace(WIRED, destinations=(destination,)))) == [
        code]


def test_missing_types_are_named():
    destination = replace(SNS, types=frozenset({"SEND", "DELIVERY"}))
    (problem,) = found(reading(configuration_set=replace(WIRED, destinations=(destination,))))
    assert "BOUNCE, COMPLAINT" in str(problem.what)


def test_a_topic_mailpipe_refuses_is_a_problem():
    other = frozenset({"arn:aws:sns:us-east-1:123456789012:other"})
    assert codes(reading(), topics=other) == ["topic_not_accepted"]


def test_a_paused_configuration_set_is_a_problem():
    assert codes(reading(configuration_set=replace(WIRED, sending_enabled=False))) == [
        "configuration_set_paused"]


def test_no_set_named_is_fine_while_events_arrive_and_a_problem_when_none_ever_did():
    assert codes(reading(configuration_set_name=None, configuration_set=None)) == []
    assert codes(reading(configuration_set_name=None, configuration_set=None),
                 last_event=None) == ["no_configuration_set"]


def test_sends_without_events_for_a_day_point_at_the_subscription():
    (problem,) = found(reading(), last_event=None)
    assert problem.code == "no_events" and URL in str(problem.fix)
    stale = SnsArrival("delivered", NOW - timedelta(hours=25))
    assert codes(reading(), last_event=stale) == ["no_events"]
    quiet = reading(account=replace(HEALTHY, sent_24h=0))
    assert codes(quiet, last_event=None) == []


def test_parts_that_could_not_be_read_are_problems_with_their_reason():
    denied = SesUnavailable("access_denied", "AccessDeniedException: no", "ListEmailIdentities")
    found_codes = codes(reading(identities=None, configuration_set=None,
                                errors={"identities": denied, "configuration_set": denied}))
    assert found_codes == ["identities_unreadable", "configuration_set_unreadable"]
    (problem, _) = found(reading(identities=None, configuration_set=None,
                                 errors={"identities": denied, "configuration_set": denied}))
    assert "ListEmailIdentities was denied" in str(problem.what)
    assert "ses:ListEmailIdentities" in str(problem.fix)
    korean = problem.what.translate("ko")  # translated, the reason inside it too
    assert "ListEmailIdentities" in korean and "could not" not in korean
    assert "mailpipe's credentials" not in korean


def test_mailpipe_sends_from_the_default_from_and_its_keys_domains():
    from shared.db.keys import ApiKey
    from shared.ses.checks import sending_from

    def key(name, domains, revoked=None):
        return ApiKey(1, name, "mp_x", domains, NOW, revoked)
    found = sending_from("Shop <News@Example.com>", [
        key("shop", ("example.com", "shop.example")), key("news", ("shop.example",)),
        key("old", ("gone.example",), revoked=NOW), key("any", ())])
    assert {s.name: users for s, users in found.items()} == {
        "news@example.com": [None], "example.com": ["shop"],
        "shop.example": ["shop", "news"]}
    assert sending_from(None, []) == {}


@pytest.mark.parametrize(("subscription", "code", "words"), [
    (f"{TOPIC}:2bcfbf39", [], None),
    ("PendingConfirmation", ["subscription_pending"], "is not confirmed"),
    (None, ["subscription_missing"], "has no subscription to"),
])
def test_a_destination_topics_subscription_to_the_api_is_checked(subscription, code, words):
    checked = reading(subscriptions={TOPIC: subscription})
    assert codes(checked, topics=frozenset({TOPIC})) == code
    if words:
        (problem,) = found(checked, topics=frozenset({TOPIC}))
        assert words in str(problem.what) and URL in str(problem.what)
        assert "mailpipe ses setup" in str(problem.fix)


def test_an_sns_it_cannot_read_says_which_permission():
    unread = SesUnavailable("access_denied", "not authorized", "ListSubscriptionsByTopic")
    (problem,) = found(reading(errors={"subscriptions": unread}), topics=frozenset({TOPIC}))
    assert problem.code == "subscriptions_unreadable"
    assert "sns:ListSubscriptionsByTopic" in str(problem.fix)
