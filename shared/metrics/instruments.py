"""Every counter and histogram mailpipe updates, by the process kind that updates it.

Imported only once ``shared.metrics.setup.prepare`` ran (entry points) or
in tests (one process, no multiprocess folder). Label values are small,
fixed sets (routes are uri templates, never raw paths): no label grows with
traffic.
"""

from __future__ import annotations

import collections
import threading
import time

from prometheus_client import Counter, Histogram

# --- api ---------------------------------------------------------------------------------
API_REQUESTS = Counter("mailpipe_api_requests", "API requests answered, by route "
                       "(uri template), method and status", ["route", "method", "status"])
API_LATENCY = Histogram("mailpipe_api_request_duration_seconds", "API request latency, by "
                        "route and method", ["route", "method"],
                        buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))

# --- sender ------------------------------------------------------------------------------
SENDS = Counter("mailpipe_sends", "Send attempts by transport and outcome (sent, failed, "
                "unknown, throttled, retried)", ["transport", "outcome"])
RECIPIENTS_SENT = Counter("mailpipe_recipients_sent", "Recipients accepted by the provider "
                          "(what the fleet's rate and 24-hour quota count)")
SES_CALL = Histogram("mailpipe_ses_call_duration_seconds", "SES SendEmail latency, from the "
                     "request leaving (after its rate slot) to the answer",
                     buckets=(.01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10))

# --- recorder ----------------------------------------------------------------------------
OUTCOMES_RECORDED = Counter("mailpipe_outcomes_recorded", "Outcomes the recorder applied, "
                            "by the state they set", ["state"])
RECORDER_LAG = Histogram("mailpipe_recorder_lag_seconds", "From a send's outcome to its "
                         "commit by the recorder", buckets=(.1, .25, .5, 1, 2, 5, 10, 30, 60,
                                                            300))
EVENTS = Counter("mailpipe_events", "Events stored, by type (delivered, bounced, "
                 "complained, opened, clicked, …)", ["type"])

# --- smtp ------------------------------------------------------------------------------
SMTP_REPLIES = Counter("mailpipe_smtp_replies", "Replies `mailpipe smtp` gave, by code (235 "
                       "AUTH accepted, 535 a wrong key, 454 an address over its failure "
                       "budget, 538, 530, 550, 552, 451, …)", ["code"])
SMTP_SUBMISSIONS = Counter("mailpipe_smtp_submissions", "Messages submitted (DATA) by "
                           "outcome (accepted, refused, unavailable)", ["outcome"])
SMTP_ROWS = Counter("mailpipe_smtp_rows", "Message rows SMTP submissions stored (one per "
                    "envelope recipient; a recognised resend stores none but is counted "
                    "again)")

# --- webhooks ----------------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter("mailpipe_webhook_deliveries", "Webhook delivery attempts by "
                             "outcome (delivered, retry, failed, gone)", ["outcome"])

# --- scheduler ---------------------------------------------------------------------------
CAMPAIGN_ROWS = Counter("mailpipe_campaign_rows_expanded", "Campaign recipients turned into "
                        "message rows")


def transport_label(transport: object, relayed: bool = False) -> str:
    """``ses``, ``smtp``, ``file``, or ``relay`` (a tenant's own SMTP server): one of a handful.

    The relaying wrapper is looked through (``default``) to the configured transport.
    """
    if relayed:
        return "relay"
    transport = getattr(transport, "default", transport)
    return type(transport).__name__.removesuffix("Transport").lower() or "unknown"


def time_ses_calls(transport) -> None:
    """Observe SES_CALL for every SendEmail and SendBulkEmail of this SesTransport.

    Timed once the rate slot was waited for (over the wire: from writing the
    request; through boto3: from ``before-send``, registered after the
    transport's own hook) to the answer or the error, so the histogram is
    SES's latency, not the fleet's pacing.
    """
    if transport.wire is not None:
        transport.wire.timed = SES_CALL.observe
    started = threading.local()

    def before(**_) -> None:
        started.at = time.perf_counter()

    def after(**_) -> None:
        at = getattr(started, "at", None)
        if at is not None:
            SES_CALL.observe(time.perf_counter() - at)
            started.at = None

    events = transport.client.meta.events
    for operation in ("SendEmail", "SendBulkEmail"):
        events.register(f"before-send.sesv2.{operation}", before)
        events.register(f"after-call.sesv2.{operation}", after)
        events.register(f"after-call-error.sesv2.{operation}", after)


def observe_recorded(batch, changed: dict[int, str]) -> None:
    """The recorder committed ``changed`` (id -> state) out of ``batch``: count and time them."""
    now = time.time()
    for outcome in batch.outcomes:
        if outcome.message_id in changed:
            RECORDER_LAG.observe(max(0.0, now - outcome.at))
    # One increment per state, not per row: each costs a lock and a write
    # to the multiprocess file (~1.7 us, a tenth of the recorder's work per row).
    for state, count in collections.Counter(changed.values()).items():
        OUTCOMES_RECORDED.labels(state).inc(count)
