"""The pipeline's steps run in order, in-process, against real PostgreSQL and Redis."""

import falcon.testing

from services.api.app import ApiDeps, create_app
from services.recorder.record import record_outcomes
from services.scheduler.dispatch import dispatch_due
from services.sender.batch import send_batch
from shared.broker.payloads import decode_outcomes, decode_send_batch
from shared.broker.queues import OUTCOME_QUEUE, SEND_QUEUE
from shared.db.messages import message_states
from tests.support.pump import drain, sender_deps


def test_posted_message_is_sent_and_recorded(settings, engine, broker, redis, api_key):
    _, plain = api_key
    app = create_app(ApiDeps(settings, engine, broker, redis))
    client = falcon.testing.TestClient(app)
    result = client.simulate_post(
        "/v1/messages",
        headers={"x-api-key": plain},
        json={"messages": [{"topicId": "t1", "emails": ["a@example.com", "b@example.com"],
                            "subject": "Hi", "content": "<p>Hello</p>"}]},
    )
    assert result.status_code == 200, result.text
    ids = [m["id"] for m in result.json["messages"]]
    batches = drain(redis, SEND_QUEUE, decode_send_batch)
    assert sorted(i for b in batches for i in b.ids) == sorted(ids)

    deps = sender_deps(settings, engine, broker, redis)
    for batch in batches:
        send_batch(deps, batch)
    assert len(list(settings.file_dir.glob("*.eml"))) == 2
    for outcomes in drain(redis, OUTCOME_QUEUE, decode_outcomes):
        record_outcomes(engine, outcomes, max_attempts=settings.max_attempts)
    with engine.connect() as conn:
        assert set(message_states(conn, ids).values()) == {"sent"}
    assert not dispatch_due(engine, broker, settings)

    topic = client.simulate_get("/v1/topics/t1", headers={"x-api-key": plain}).json
    assert (topic["topicId"], topic["total"], topic["status"]) == ("t1", 2, {"sent": 2})
