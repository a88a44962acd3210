"""Every SendEmail and SendBulkEmail call (to the suite's SES over HTTP) carries mailpipe's
message id, topic and key as EmailTags, within SES's tag rules, and names the key's own
configuration set, else the fleet's."""

from __future__ import annotations

from services.sender.batch import send_batch
from shared.broker.payloads import OutcomeKind, SendBatch
from shared.db.keys import KeySettings, change_key
from shared.db.messages import insert_messages
from shared.intake.requests import MessageRequest
from shared.ses.setup import configuration_set_to_name
from shared.transports.ses import SesTransport, ses_client
from tests.support.pump import sender_deps, ses_deps

TOPIC = "봄 sale/2026.04"  # SES takes [A-Za-z0-9_-] only


def queue(engine, key_id: int, count: int, topic: str = TOPIC) -> list[int]:
    item = MessageRequest(topic_id=topic, from_addr="s@example.com",
                          recipients=tuple(f"r{i}@example.com" for i in range(count)),
                          subject="s", html="<p>h</p>")
    with engine.begin() as conn:
        return [m.id for m in insert_messages(conn, key_id, [item], queue_timeout=300)]


def tags(entries: list[dict]) -> dict[str, str]:
    return {t["Name"]: t["Value"] for t in entries}


def test_each_bulk_entry_is_tagged_with_its_message_topic_and_key(
        settings, engine, broker, redis, api_key, fake_ses):
    key = api_key[0]
    ids = queue(engine, key.id, 3)
    result = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert [o.kind for o in result.outcomes] == [OutcomeKind.SENT] * 3
    (call,) = fake_ses.bulk_calls
    assert [tags(e["ReplacementTags"]) for e in call["BulkEmailEntries"]] == [
        {"mailpipe-message": str(i), "mailpipe-topic": "__sale_2026_04",
         "mailpipe-key": str(key.id)} for i in ids]
    assert "ConfigurationSetName" not in call


def test_a_single_send_is_tagged_and_names_its_keys_own_configuration_set(
        settings, engine, broker, redis, api_key, fake_ses):
    key = api_key[0]
    with engine.begin() as conn:
        change_key(conn, key.id, KeySettings(key.name, configuration_set="news-events"))
    (message_id,) = queue(engine, key.id, 1, topic="뉴스-" * 66)
    send_batch(ses_deps(settings, engine, broker, redis), SendBatch((message_id,)))
    (request,) = fake_ses.accepted
    assert request["ConfigurationSetName"] == "news-events"
    assert tags(request["EmailTags"]) == {"mailpipe-message": str(message_id),
                                          "mailpipe-topic": "__-" * 66,
                                          "mailpipe-key": str(key.id)}


def test_a_key_without_a_set_of_its_own_names_the_fleets(
        settings, engine, broker, redis, api_key, fake_ses):
    ids = queue(engine, api_key[0].id, 2)
    transport = SesTransport.from_environment(region="us-east-1", configuration_set="fleet")
    send_batch(sender_deps(settings, engine, broker, redis, transport), SendBatch(tuple(ids)))
    (call,) = fake_ses.bulk_calls
    assert call["ConfigurationSetName"] == "fleet"
    assert fake_ses.refused_signatures == []


def test_a_sender_names_the_fleets_set_once_setup_has_made_it_without_a_restart(
        settings, engine, broker, redis, api_key, fake_ses):
    ses_settings = settings.model_copy(update={"aws_region": "us-east-1"})
    client = ses_client(ses_settings)
    transport = SesTransport(client, bulk=False, configuration_set=configuration_set_to_name(
        client, ses_settings), find_configuration_set=lambda: configuration_set_to_name(
        client, ses_settings, quiet=True), find_every=0)
    deps = sender_deps(settings, engine, broker, redis, transport)
    send_batch(deps, SendBatch(tuple(queue(engine, api_key[0].id, 1))))
    fake_ses.reads.production()  # mailpipe ses setup made the set meanwhile
    send_batch(deps, SendBatch(tuple(queue(engine, api_key[0].id, 1))))
    send_batch(deps, SendBatch(tuple(queue(engine, api_key[0].id, 1))))
    assert [a.get("ConfigurationSetName") for a in fake_ses.accepted] == [
        None, "mailpipe", "mailpipe"]
    assert fake_ses.reads.calls.count("GetConfigurationSet") == 3  # then no more asking
