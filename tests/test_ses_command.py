"""``mailpipe ses status`` against SES over HTTP (the suite's scripted SES: moto's sesv2 has no
GetAccount) and SNS (moto's server), with mailpipe's own database for the last event."""

from __future__ import annotations

import json

import pytest

from services.cli import run
from services.ses import sns_client, status_report
from shared.ses import setup as loop
from shared.settings import load_settings
from shared.transports.ses import ses_client

PUBLIC_URL = "https://mail.example.com"


@pytest.fixture
def env(fake_ses, ses_endpoint, postgres, engine, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", ses_endpoint)
    for name, value in {"DATABASE_URL": postgres.url, "PUBLIC_URL": PUBLIC_URL,
                        "SES_CONFIGURATION_SET": "mailpipe",
                        "DEFAULT_FROM": "news@example.com"}.items():
        monkeypatch.setenv(f"MAILPIPE_{name}", value)
    return fake_ses


def report(engine):
    settings = load_settings(_env_file=None)
    return status_report(settings, ses_client(settings), sns_client(settings), engine)


def test_status_of_a_sandboxed_account_says_so_with_what_fixes_it(env, capsys):
    env.reads.sandbox()
    assert run(["ses", "status"]) == 1
    out = capsys.readouterr().out
    assert "account           SANDBOX" in out
    assert "PROBLEM sandbox:" in out and "Request production access" in out
    assert "PROBLEM identity_missing:" in out  # news@example.com is no identity
    assert run(["ses", "status", "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["production"] is False and answer["maxSendRate"] == 1
    assert answer["max24HourSend"] == 200 and answer["sentLast24Hours"] == 40
    assert {"sandbox", "no_event_destination"} <= {p["code"] for p in answer["problems"]}
    assert all(p["fix"] for p in answer["problems"])


def test_status_of_an_account_with_sending_disabled_says_so(env, engine, capsys):
    env.reads.production()
    env.account.update(SendingEnabled=False, EnforcementStatus="PROBATION")
    found = report(engine)
    assert found["sendingEnabled"] is False and found["enforcementStatus"] == "PROBATION"
    assert {"sending_disabled", "probation"} <= {p["code"] for p in found["problems"]}
    assert run(["ses", "status"]) == 1
    assert "sending           DISABLED" in capsys.readouterr().out


def test_status_after_setup_finds_the_loop_wired_and_its_subscription_confirmed(
        env, engine, capsys):
    env.reads.production()
    env.reads.configuration_sets = {}
    settings = load_settings(_env_file=None)
    ses, sns = ses_client(settings), sns_client(settings)
    _, topic = loop.setup(ses, sns, loop.Plan(PUBLIC_URL, topic="status-wired"))
    found = report(engine)
    assert found["configurationSetExists"] and found["destinations"][0]["topic"] == topic
    assert found["subscriptions"][topic]["confirmed"]  # moto confirms at once
    assert found["problems"] == []
    assert found["identities"][0]["name"] == "example.com"
    assert run(["ses", "status"]) == 0
    assert "no problems" in capsys.readouterr().out


def test_a_destination_topic_without_the_subscription_is_a_problem_naming_setup(env, engine):
    env.reads.production()
    env.reads.configuration_sets = {}
    settings = load_settings(_env_file=None)
    ses, sns = ses_client(settings), sns_client(settings)
    _, topic = loop.setup(ses, sns, loop.Plan(PUBLIC_URL, topic="status-unsubscribed"))
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    (problem,) = report(engine)["problems"]
    assert problem["code"] == "subscription_missing"
    assert "mailpipe ses setup --public-url" in problem["fix"]
