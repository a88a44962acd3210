"""A saved list edited (as the console's grid saves it): checked like a new one, replaced in
one transaction, one save after another, and never reaching a campaign already made."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.scheduler.expand import expand_step
from shared.db.keys import create_key
from shared.db.recipient_lists import get_list, list_rows, rewrite_list
from shared.db.templates import create_template
from shared.errors import InvalidRequest, NotFound
from shared.intake.addresses import NamedAddress
from shared.intake.campaigns import CampaignRequest, create_campaign, json_rows
from shared.intake.recipient_lists import campaign_rows, create_list, replace_list
from shared.rendering.mustache import TemplateSource

FIRST = [{"email": "홍길동 <hong@example.com>", "이름": "길동"},
         {"email": "kim@example.com", "이름": "민수"}]
EDITED = [{"email": "lee@example.com", "이름": "영희"}]


def _rows(engine, list_id: int) -> list[tuple[str, str | None, dict]]:
    with engine.connect() as conn:
        return [(r.address, r.name, values) for _, r, values in list_rows(conn, list_id)]


def _recipients(engine, campaign_id: int) -> list[tuple[str, str | None, dict]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT email, name, variables FROM campaign_recipients WHERE campaign_id = :c "
            "ORDER BY seq"), {"c": campaign_id})]


@pytest.fixture
def saved(engine, api_key):
    key = api_key[0]
    return key, create_list(engine, key, "6월 고객", json_rows(FIRST), ["이름"])


def _campaign(engine, key, settings, list_id: int, when: datetime | None = None):
    with engine.begin() as conn:
        template = create_template(conn, key.id, f"t{datetime.now(UTC).timestamp()}",
                                   TemplateSource("{{이름}}님", "<p>{{이름}}</p>", None))
    request = CampaignRequest(name="c", template_id=template.id, topic_id="edits",
                              scheduled_at=when)
    return create_campaign(engine, key, request,
                           lambda variables: campaign_rows(engine, key, list_id), settings)


def test_editing_a_list_changes_no_campaign_made_from_it(engine, broker, settings, saved):
    key, stored = saved
    scheduled = _campaign(engine, key, settings, stored.id,
                          datetime.now(UTC) + timedelta(days=1))
    sent_now = _campaign(engine, key, settings, stored.id)
    while expand_step(engine, broker, settings):
        pass

    edited = replace_list(engine, key, stored.id, "6월 고객 (수정)", json_rows(EDITED), ["이름"])
    assert (edited.id, edited.name, edited.total) == (stored.id, "6월 고객 (수정)", 1)
    assert edited.updated_at > stored.updated_at and edited.created_at == stored.created_at
    assert _rows(engine, stored.id) == [("lee@example.com", None, {"이름": "영희"})]

    # Campaigns copied the rows they were made from: the scheduled one, not expanded yet,
    # and the one already expanded into messages keep the list as it was.
    before = [("hong@example.com", "홍길동", {"이름": "길동"}),
              ("kim@example.com", None, {"이름": "민수"})]
    assert _recipients(engine, scheduled.id) == before
    assert _recipients(engine, sent_now.id) == before
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT to_addr, to_name FROM messages WHERE "
                                     "campaign_id = :c ORDER BY id"), {"c": sent_now.id}).all()
    assert [tuple(m) for m in messages] == [("hong@example.com", "홍길동"),
                                            ("kim@example.com", None)]
    # A campaign made after the edit gets the edited rows.
    after = _campaign(engine, key, settings, stored.id)
    assert _recipients(engine, after.id) == [("lee@example.com", None, {"이름": "영희"})]


def test_an_edit_is_checked_as_a_new_list_and_changes_nothing_when_refused(engine, saved):
    key, stored = saved
    with pytest.raises(InvalidRequest) as refused:
        replace_list(engine, key, stored.id, "x", json_rows(
            [{"email": "ok@example.com"}, {"email": "not-an-email"}]), [])
    assert refused.value.code == "invalid_recipients"
    with pytest.raises(InvalidRequest) as empty:
        replace_list(engine, key, stored.id, "x", json_rows([]), [])
    assert empty.value.code == "no_recipients"
    with engine.connect() as conn:
        assert get_list(conn, key.id, stored.id) == stored
    assert len(_rows(engine, stored.id)) == 2


def test_a_list_of_another_key_cannot_be_edited(engine, saved):
    key, stored = saved
    with engine.begin() as conn:
        other, _ = create_key(conn, "other", [])
    with pytest.raises(NotFound):
        replace_list(engine, other, stored.id, "x", json_rows(EDITED), ["이름"])
    assert len(_rows(engine, stored.id)) == 2


def test_two_saves_of_one_list_at_once_end_with_the_last_one(engine, saved):
    key, stored = saved
    second: list = []
    with engine.connect() as first:
        with first.begin():
            rewrite_list(first, key.id, stored.id, "first",
                         [(NamedAddress("a@example.com"), {"이름": "에이"})])
            # Another save of the same list, while this one holds it.
            waiting = threading.Thread(target=lambda: second.append(replace_list(
                engine, key, stored.id, "second", json_rows(EDITED), ["이름"])))
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive(), "the second save did not wait for the first"
        waiting.join(10)
    assert second and second[0].name == "second"
    assert _rows(engine, stored.id) == [("lee@example.com", None, {"이름": "영희"})]
