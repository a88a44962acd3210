"""``mailpipe ses setup`` over HTTP: SES v2 is the suite's scripted SES (moto's sesv2 keeps no
event destinations), SNS is moto's server (topics and subscriptions as SNS lists them)."""

from __future__ import annotations

import boto3
import pytest

from services.cli import run
from services.ses import sns_client
from shared.ses import setup as loop
from shared.ses.checks import RECORDED_TYPES
from shared.settings import load_settings
from shared.transports.ses import ses_client

PUBLIC_URL = "https://mail.example.com"
ENDPOINT = PUBLIC_URL + "/v1/events/results"


@pytest.fixture
def aws(fake_ses, ses_endpoint, monkeypatch):
    """(scripted SES, SNS client on moto) with a topic name of this test's own."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", ses_endpoint)
    return fake_ses


@pytest.fixture
def settings_(aws, request):
    return load_settings(database_url="postgresql://unused/db", aws_region="us-east-1",
                         _env_file=None)


def plan(request, **changes) -> loop.Plan:
    return loop.Plan(public_url=PUBLIC_URL, topic=f"t-{request.node.name[:60]}", **changes)


def clients(settings):
    return ses_client(settings, max_connections=2), sns_client(settings)


def test_setup_creates_the_set_topic_destination_and_subscription(aws, settings_, request):
    ses, sns = clients(settings_)
    steps, topic = loop.setup(ses, sns, plan(request))
    assert [(s.part, s.outcome) for s in steps] == [
        ("configuration set", "created"), ("SNS topic", "created"),
        ("event destination", "created"), ("subscription", "created")]
    (destination,) = aws.reads.configuration_sets["mailpipe"]["EventDestinations"]
    assert destination["Enabled"] and destination["SnsDestination"]["TopicArn"] == topic
    assert set(destination["MatchingEventTypes"]) == set(RECORDED_TYPES)
    assert "OPEN" not in destination["MatchingEventTypes"]
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("https", ENDPOINT)
    assert aws.refused_signatures == []


def test_setup_run_again_creates_nothing(aws, settings_, request):
    ses, sns = clients(settings_)
    loop.setup(ses, sns, plan(request))
    aws.reads.calls.clear()
    steps, topic = loop.setup(ses, sns, plan(request))
    assert [s.outcome for s in steps] == ["exists"] * 4
    assert not [c for c in aws.reads.calls if not c.startswith("Get")]
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1
    names = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert names.count(topic) == 1


def test_dry_run_creates_nothing_and_says_what_it_would(aws, settings_, request):
    ses, sns = clients(settings_)
    steps, topic = loop.setup(ses, sns, plan(request, dry_run=True))
    assert [s.outcome for s in steps] == ["would create"] * 4
    assert topic is None and aws.reads.configuration_sets == {}
    assert loop.find_topic(sns, plan(request).topic) is None
    assert not [c for c in aws.reads.calls if not c.startswith("Get")]


def test_a_destination_of_mailpipes_missing_types_gets_them_added_never_removed(
        aws, settings_, request):
    ses, sns = clients(settings_)
    _, topic = loop.setup(ses, sns, plan(request))
    (ours,) = aws.reads.configuration_sets["mailpipe"]["EventDestinations"]
    ours["MatchingEventTypes"] = ["BOUNCE", "SUBSCRIPTION"]
    steps, _ = loop.setup(ses, sns, plan(request, ses_tracking=True))
    assert steps[2].outcome == "updated"
    (ours,) = aws.reads.configuration_sets["mailpipe"]["EventDestinations"]
    assert set(ours["MatchingEventTypes"]) == {*RECORDED_TYPES, "OPEN", "CLICK", "SUBSCRIPTION"}
    assert "UpdateConfigurationSetEventDestination" in aws.reads.calls


def test_the_command_prints_each_step_and_the_topic_allow_list_to_set(
        aws, ses_endpoint, monkeypatch, capsys, request):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", "postgresql://unused/db")
    monkeypatch.setenv("MAILPIPE_SNS_TOPIC_ARNS", "arn:aws:sns:us-east-1:123456789012:other")
    topic = f"cli-{request.node.name[:40]}"
    argv = ["ses", "setup", "--public-url", PUBLIC_URL, "--topic", topic]
    assert run([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would create         configuration set: mailpipe" in out
    assert aws.reads.configuration_sets == {}
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "created              subscription: " + ENDPOINT in out
    assert "running senders name the new configuration set within five minutes" in out
    arn = boto3.client("sns", endpoint_url=ses_endpoint, region_name="us-east-1"
                       ).create_topic(Name=topic)["TopicArn"]
    both = sorted([arn, "arn:aws:sns:us-east-1:123456789012:other"])
    assert f"MAILPIPE_SNS_TOPIC_ARNS={','.join(both)}" in out


def test_a_public_url_sns_cannot_deliver_to_is_refused(aws, monkeypatch, capsys):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", "postgresql://unused/db")
    assert run(["ses", "setup", "--public-url", "ftp://mail.example.com"]) == 2
    assert "https://" in capsys.readouterr().err
    assert aws.reads.calls == []


def test_an_account_that_may_not_create_says_so_and_what_fixes_it(
        aws, monkeypatch, capsys, request):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", "postgresql://unused/db")
    aws.reads.refuse("CreateConfigurationSet")
    assert run(["ses", "setup", "--public-url", PUBLIC_URL, "--topic", "denied"]) == 1
    err = capsys.readouterr().err
    assert "CreateConfigurationSet" in err and "IAM" in err


@pytest.mark.parametrize(("explicit", "exists", "readable", "named"), [
    (False, False, True, None),        # never set up: sends as before, naming none
    (False, True, True, "mailpipe"),   # set up: the default is the set setup made
    (True, False, True, None),         # named but missing: SES would refuse every send
    (True, False, False, "mailpipe"),  # cannot check: the operator's word
    (False, True, False, None),        # cannot check the default: naming none is safe
])
def test_a_sender_names_the_fleets_set_only_once_ses_says_it_exists(
        aws, explicit, exists, readable, named):
    if exists:
        aws.reads.production()
    if not readable:
        aws.reads.refuse("GetConfigurationSet")
    settings = load_settings(database_url="postgresql://unused/db", aws_region="us-east-1",
                             _env_file=None,
                             **({"ses_configuration_set": "mailpipe"} if explicit else {}))
    assert loop.configuration_set_to_name(ses_client(settings), settings) == named


def test_an_empty_setting_names_no_set_and_asks_ses_nothing(aws):
    settings = load_settings(database_url="postgresql://unused/db", aws_region="us-east-1",
                             ses_configuration_set="", _env_file=None)
    assert loop.configuration_set_to_name(ses_client(settings), settings) is None
    assert aws.reads.calls == []
