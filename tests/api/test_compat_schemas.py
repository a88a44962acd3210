"""The compat APIs' schema layer: one address parser for both (Biz takes comma-separated
lists, fureweb one address per item), and the field each API reports first."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from services.api.schemas.biz import biz_request
from services.api.schemas.compat import addresses
from services.api.schemas.fureweb import fureweb_mail
from shared.errors import InvalidRequest, Unauthorized


@pytest.mark.parametrize(("value", "lists", "expected"), [
    ("<a@example.net>", True, (("a@example.net", None),)),
    ("<a@example.net>,<b@example.net>,", True, (("a@example.net", None),
                                                ("b@example.net", None))),
    ('"Kim, Minsu" <m@example.net>, 홍길동 <hong@example.net>', True,
     (("m@example.net", "Kim, Minsu"), ("hong@example.net", "홍길동"))),
    (["홍길동 <hong@example.net>", "kim@example.net"], False,
     (("hong@example.net", "홍길동"), ("kim@example.net", None))),
    (None, False, ()),
    ([], True, ()),
])
def test_addresses_are_read_with_their_names_from_every_spelling(value, lists, expected):
    assert tuple((a.address, a.name) for a in addresses(value, lists=lists)) == expected


@pytest.mark.parametrize(("value", "lists"), [
    (["a@example.net, b@example.net"], False),  # fureweb: one address per item
    ([""], False),
    ("<a@example.net>,<b@nexus>", True),
    ("a@example.net\r\nBcc: x@evil.com", True),
    ([1], True),
])
def test_addresses_refuse_what_is_no_address(value, lists):
    with pytest.raises(PydanticCustomError):
        addresses(value, lists=lists)


def test_biz_reports_the_tenant_server_before_the_message():
    with pytest.raises(InvalidRequest) as caught:
        biz_request({"smtp_url": "smtp://mail.example.net", "ssl": True, "user": "",
                     "to": "nope", "subject": ""}, [], tenant=True, password_required=False)
    assert caught.value.field == "user"


def test_fureweb_reports_a_missing_key_before_any_field():
    with pytest.raises(Unauthorized):
        fureweb_mail({"from": "nobody", "to": [], "title": "", "content": None})
    with pytest.raises(InvalidRequest) as caught:
        fureweb_mail({"key": "k", "from": "nobody", "to": []})
    assert caught.value.field == "from" and caught.value.message.startswith("invalid parameter:")
