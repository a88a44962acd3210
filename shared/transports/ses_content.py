"""What SES v2 is sent: Simple content (SES builds the MIME), Raw for the rest, bulk entries.

``simple_content`` says a message in SESv2 ``Simple`` parts (Subject, Html,
Text, Headers, Attachments: the installed botocore's model has all five) or
None when Simple cannot say it and the Raw MIME goes instead:

- a Message-ID the caller fixed (the compat APIs): Simple has no such field;
- a caller's header that SES builds itself (From, To, Subject, Content-*,
  ...), or one that is not printable ASCII or longer than SES takes;
- an attachment whose file name is not ASCII (the Raw MIME encodes it
  per RFC 2231; Simple's FileName is not documented to).

``bulk_request`` is a SendBulkEmail request with inline TemplateContent;
``entry_result`` reads one BulkEmailEntryResult. ``email_tags`` says a send's tags
(message id, topic, key) as SES takes them.
"""

from __future__ import annotations

import re
from functools import lru_cache

import orjson

from shared.errors import Failure, TransportError
from shared.transports.base import BulkSend, Composed, EntryResult

UTF8 = "UTF-8"
#: Headers SES writes from the request itself: a caller's own goes Raw.
SES_BUILT = frozenset({
    "from", "to", "cc", "bcc", "subject", "reply-to", "date", "message-id", "mime-version",
    "content-type", "content-transfer-encoding", "content-disposition", "return-path", "sender",
})
#: SES v2 MessageHeader: a name of printable ASCII without ':', at most 126
#: characters; a value of printable ASCII, at most 870.
_HEADER_NAME = re.compile(r"[!-9;-~]{1,126}")
_HEADER_VALUE = re.compile(r"[ -~]{0,870}")


def simple_content(composed: Composed) -> dict | None:
    """``Content.Simple`` for SendEmail, or None when the message must go Raw (see above)."""
    if composed.message_id or not all(_header_ok(n, v) for n, v in composed.headers):
        return None
    if not all(a.filename.isascii() for a in composed.attachments):
        return None
    body = {"Text": {"Data": composed.text, "Charset": UTF8}}
    if composed.html:
        body["Html"] = {"Data": composed.html, "Charset": UTF8}
    simple: dict = {"Subject": {"Data": composed.subject, "Charset": UTF8}, "Body": body}
    if composed.headers:
        simple["Headers"] = headers(composed.headers)
    if composed.attachments:
        simple["Attachments"] = [_attachment(a) for a in composed.attachments]
    return simple


def _header_ok(name: str, value: str) -> bool:
    return (name.lower() not in SES_BUILT and bool(_HEADER_NAME.fullmatch(name))
            and bool(_HEADER_VALUE.fullmatch(value)))


def headers(pairs) -> list[dict]:
    return [{"Name": name, "Value": value} for name, value in pairs]


def _attachment(attachment) -> dict:
    part = {"RawContent": attachment.data, "FileName": attachment.filename,
            "ContentType": attachment.content_type, "ContentTransferEncoding": "BASE64",
            "ContentDisposition": "INLINE" if attachment.inline else "ATTACHMENT"}
    if attachment.inline:
        part["ContentId"] = attachment.content_ref.strip("<>")
    return part


#: What SES takes in a tag's name or value (MessageTag): ASCII letters, digits, _ and -.
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_TAG = 256


@lru_cache(maxsize=4096)
def tag_value(value: str) -> str:
    """``value`` as SES takes it in a tag: every other character ``_``, at most 256
    (topics repeat: cached). An empty value becomes ``none``: SES refuses an empty one."""
    return _TAG_UNSAFE.sub("_", value)[:MAX_TAG] or "none"


def email_tags(tags) -> list[dict]:
    """(name, value) pairs as EmailTags / ReplacementTags."""
    return [{"Name": name, "Value": tag_value(value)} for name, value in tags]


def destination(composed: Composed) -> dict:
    to = {"ToAddresses": list(composed.to)}
    if composed.cc:
        to["CcAddresses"] = list(composed.cc)
    if composed.bcc:
        to["BccAddresses"] = list(composed.bcc)
    return to


def bulk_headers_ok(bulk: BulkSend) -> bool:
    """Every header of the call (shared and per entry) is one SES takes as a MessageHeader."""
    pairs = [*bulk.headers, *(h for e in bulk.entries for h in e.headers)]
    return all(_header_ok(n, v) for n, v in pairs)


def bulk_request(bulk: BulkSend) -> dict:
    """SendBulkEmail's parameters: the content inline, each entry's values and headers."""
    template: dict = {"TemplateContent": {"Subject": bulk.subject, "Text": bulk.text},
                      "TemplateData": "{}"}
    if bulk.html:
        template["TemplateContent"]["Html"] = bulk.html
    if bulk.headers:
        template["Headers"] = headers(bulk.headers)
    request = {
        "FromEmailAddress": bulk.from_header,
        "DefaultContent": {"Template": template},
        "BulkEmailEntries": [
            {"Destination": {"ToAddresses": [entry.to]},
             "ReplacementEmailContent": {"ReplacementTemplate": {
                 "ReplacementTemplateData": orjson.dumps(entry.values).decode()}},
             **({"ReplacementHeaders": headers(entry.headers)} if entry.headers else {}),
             **({"ReplacementTags": email_tags(entry.tags)} if entry.tags else {})}
            for entry in bulk.entries
        ],
    }
    if bulk.reply_to:
        request["ReplyToAddresses"] = [bulk.reply_to]
    return request


#: BulkEmailEntryResult statuses (SES v2 BulkEmailStatus) that were provably not
#: sent and may go again; every other failure is permanent for that entry.
_ENTRY_THROTTLED = {"ACCOUNT_THROTTLED"}
_ENTRY_PAUSED = {"ACCOUNT_SUSPENDED", "ACCOUNT_SENDING_PAUSED", "CONFIGURATION_SET_SENDING_PAUSED"}
_ENTRY_TRANSIENT = {"ACCOUNT_DAILY_QUOTA_EXCEEDED", "TRANSIENT_FAILURE"}


def entry_result(result: dict) -> EntryResult:
    """One entry's MessageId, or the TransportError saying why SES did not send it."""
    status = result.get("Status", "")
    if status == "SUCCESS" and result.get("MessageId"):
        return result["MessageId"]
    text = f"SES {status or 'no status'}: {result.get('Error') or 'no reason given'}"
    if status in _ENTRY_THROTTLED:
        return TransportError(text, Failure.TRANSIENT, throttled=True)
    if status in _ENTRY_PAUSED:
        return TransportError(text, Failure.TRANSIENT, pauses_fleet=True)
    if status in _ENTRY_TRANSIENT:
        return TransportError(text, Failure.TRANSIENT)
    if status == "SUCCESS":  # accepted, but no id to record: it went out
        return TransportError(f"SES accepted the entry without a MessageId: {result}",
                              Failure.AMBIGUOUS)
    return TransportError(text, Failure.PERMANENT)
