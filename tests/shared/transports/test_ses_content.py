"""Simple content where SES can build the MIME, Raw where it cannot: what reaches SES over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from shared.db.messages import ClaimedMessage
from shared.intake.attachments import Attachment
from shared.rendering.compose import Composer
from shared.rendering.mime import build_mime
from shared.transports.base import Envelope
from shared.transports.ses import SesTransport


def send(message: ClaimedMessage) -> None:
    composed = Composer().compose(message, None)
    envelope = Envelope(message.from_addr, message.recipients,
                        lambda: build_mime(composed, now=datetime.now(UTC)).as_bytes(),
                        composed=composed)
    SesTransport.from_environment(region="us-east-1").send(envelope)


def message(**extra) -> ClaimedMessage:
    fields = {"id": 7, "attempt": 1, "from_addr": "Shop <news@shop.example>",
              "to_addr": "a@example.com", "subject": "세일", "html": "<p>Hi</p>", "text": None,
              "reply_to": "help@shop.example", "content_id": 1, **extra}
    return ClaimedMessage(**fields)


def test_a_plain_message_goes_as_simple_content_with_its_headers(fake_ses):
    send(message(cc=("c@example.com",), bcc=("hidden@example.com",),
                 headers=(("X-Campaign", "spring"),)))
    [request] = fake_ses.accepted
    simple = request["Content"]["Simple"]
    assert simple["Subject"] == {"Data": "세일", "Charset": "UTF-8"}
    assert simple["Body"]["Html"]["Data"] == "<p>Hi</p>"
    assert simple["Body"]["Text"]["Data"] == "Hi"
    assert simple["Headers"] == [{"Name": "X-Mailpipe-Id", "Value": "7"},
                                 {"Name": "X-Campaign", "Value": "spring"}]
    assert request["Destination"] == {"ToAddresses": ["a@example.com"],
                                      "CcAddresses": ["c@example.com"],
                                      "BccAddresses": ["hidden@example.com"]}
    assert request["ReplyToAddresses"] == ["help@shop.example"]


def test_attachments_with_ascii_names_go_as_simple_attachments(fake_ses):
    send(message(attachments=(Attachment("a.pdf", "application/pdf", b"%PDF"),
                              Attachment("logo.png", "image/png", b"png", "logo@x"))))
    parts = fake_ses.accepted[0]["Content"]["Simple"]["Attachments"]
    assert [(p["FileName"], p["ContentDisposition"]) for p in parts] == [
        ("a.pdf", "ATTACHMENT"), ("logo.png", "INLINE")]
    assert parts[1]["ContentId"] == "logo@x"
    assert base64.b64decode(parts[0]["RawContent"]) == b"%PDF"


@pytest.mark.parametrize("extra", [
    {"mime_message_id": "fixed@shop.example"},                 # Simple has no Message-ID
    {"headers": (("Content-Type", "text/x-odd"),)},            # a header SES writes itself
    {"headers": (("X-Note", "é"),)},                            # not printable ASCII
    {"attachments": (Attachment("견적서.pdf", "application/pdf", b"%PDF"),)},  # non-ASCII name
])
def test_what_simple_cannot_say_goes_raw(fake_ses, extra):
    send(message(**extra))
    [request] = fake_ses.accepted
    mime = message_from_bytes(base64.b64decode(request["Content"]["Raw"]["Data"]),
                              policy=policy.default)
    assert mime["X-Mailpipe-Id"] == "7" and mime["To"] == "a@example.com"
    if "mime_message_id" in extra:
        assert mime["Message-ID"] == "<fixed@shop.example>"


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "boto3"])
def test_bulk_entries_reach_ses_exactly_as_botocore_would_write_them(fake_ses, direct):
    from botocore.serialize import create_serializer

    from shared.transports.base import BulkEntry, BulkSend
    from shared.transports.ses_content import bulk_request

    # A subject holding the body's own key text, quotes and non-ASCII.
    bulk = BulkSend(from_header="Shop <news@shop.example>",
                    subject='"BulkEmailEntries": [] {{v0}} 세일 "quoted"', html="<p>{{v0}}</p>",
                    text="{{v0}}", reply_to="help@shop.example",
                    headers=(("X-Campaign", "june"),),
                    entries=(BulkEntry("a@example.com", {"v0": "김 \"철수\" \\ </p>"},
                                       (("X-Mailpipe-Id", "1"),)),
                             BulkEntry("b@example.com", {"v0": "Bob"})))
    transport = SesTransport.from_environment(region="us-east-1", direct=direct)
    assert len(transport.send_bulk(bulk)) == 2
    model = transport.client.meta.service_model.operation_model("SendBulkEmail")
    botocore_body = create_serializer("rest-json", include_validation=False) \
        .serialize_to_request(bulk_request(bulk), model)["body"]
    assert fake_ses.bulk_calls == [json.loads(botocore_body)]
    assert [e["Destination"]["ToAddresses"] for e in fake_ses.bulk_calls[0]["BulkEmailEntries"]
            ] == [["a@example.com"], ["b@example.com"]]
