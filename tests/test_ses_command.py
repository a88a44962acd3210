"""``mailpipe ses status`` against SES over HTTP (the suite's scripted SES: moto's sesv2 has no
GetAccount) and SNS (moto's server), with mailpipe's own database for the last event."""

from __future__ import annotations

import json
import threading

import falcon.testing
import pytest
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from services.cli import run
from services.recorder.events import record_events
from services.ses import sns_client, status_report
from shared.broker.payloads import decode_events
from shared.broker.queues import EVENT_QUEUE
from shared.ses import setup as loop
from shared.settings import load_settings
from shared.transports.ses import SesTransport, ses_client
from tests.support.pump import Pump, drain

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
    assert f"mailpipe ses setup --public-url {PUBLIC_URL} (it subscribes" in problem["fix"]


@pytest.fixture
def cli_env(settings, monkeypatch):
    for name, value in {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
                        "DEFAULT_FROM": "sender@example.com"}.items():
        monkeypatch.setenv(f"MAILPIPE_{name}", value)


def ses_side(settings, engine, broker, redis, ca, sns_http, stop):
    """What the running fleet and SES do for ``ses test``: the senders send (to the suite's
    SES), SES answers the simulator's addresses through SNS (signed notifications to the
    api's endpoint), the recorder records."""
    from shared.db.reads import get_message
    from tests.support.sns import notification, ses_event_publishing

    client = falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis,
                                                          sns_http=sns_http)))
    pump = Pump(settings, engine, broker, redis,
                SesTransport.from_environment(region="us-east-1", bulk=False))
    answered: set[int] = set()
    kinds = {"success": ["Delivery"], "bounce": ["HardBounce"],
             "complaint": ["Delivery", "Complaint"]}
    while not stop.is_set():
        pump.step()
        with engine.connect() as conn:
            sent = [get_message(conn, key_id, message_id) for message_id, key_id in conn.execute(
                text("SELECT id, api_key_id FROM messages WHERE provider_message_id IS NOT NULL"))]
        for message in sent:
            if message["id"] in answered:
                continue
            answered.add(message["id"])
            for kind in kinds[message["to_addr"].partition("@")[0]]:
                body = ses_event_publishing(kind, message["provider_message_id"],
                                            message["to_addr"])
                client.simulate_post("/v1/events/results",
                                     body=json.dumps(ca.sign(notification(body))))
        for batch in drain(redis, EVENT_QUEUE, decode_events):
            record_events(engine, batch)
        stop.wait(0.1)


def test_ses_test_reports_each_simulator_event_as_it_comes_back(
        settings, engine, broker, redis, api_key, fake_ses, ca, sns_http, cli_env, capsys):
    stop = threading.Event()
    side = threading.Thread(target=ses_side, daemon=True,
                            args=(settings, engine, broker, redis, ca, sns_http, stop))
    side.start()
    argv = ["ses", "test", "--key-id", str(api_key[0].id), "--timeout", "30"]
    try:
        first = run(argv)
        out = capsys.readouterr().out
        # The bounce and the complaint suppressed their addresses: a second test takes them
        # off its key's list first, and all three go out again.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM suppressions")).scalar_one() == 2
        second = run(argv)
    finally:
        stop.set()
        side.join(10)
    assert (first, second) == (0, 0), out
    for address, event in [("success", "delivered"), ("bounce", "bounced"),
                           ("complaint", "complained")]:
        assert f"arrived  {address}@simulator.amazonses.com: {event}" in out
    assert len(fake_ses.accepted) == 6


def test_ses_test_without_the_events_names_what_did_not_come_back(
        settings, engine, api_key, redis, fake_ses, cli_env, capsys):
    assert run(["ses", "test", "--key-id", str(api_key[0].id), "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("MISSING") == 3 and "is queued" in err
    assert "are the senders running?" in err


def test_ses_test_with_no_such_key_says_so(engine, cli_env, capsys):
    assert run(["ses", "test", "--key-id", "999999"]) == 1
    assert "no active key with id 999999" in capsys.readouterr().err


def test_a_keys_own_configuration_set_missing_in_ses_is_a_problem_naming_the_key(env, engine):
    from shared.db.keys import create_key

    env.reads.production()
    with engine.begin() as conn:
        create_key(conn, "tenant", [], configuration_set="tenant-events")
        create_key(conn, "fine", [], configuration_set="mailpipe")
    found = report(engine)
    (problem,) = [p for p in found["problems"] if p["code"] == "key_configuration_set_missing"]
    assert "tenant-events, which the API keys tenant name" in problem["what"]
    assert ("mailpipe ses setup --public-url https://mail.example.com --configuration-set "
            "tenant-events") in problem["fix"]
