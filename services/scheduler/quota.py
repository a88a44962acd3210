"""The scheduler's SES account steps: the quota (MAILPIPE_SEND_RATE=auto) and the fleet's pause.

Both read SES GetAccount. The quota step shares the account's numbers with
the fleet through Redis (with ``auto``), and pauses the fleet when the account
may not send or is not in good standing (``account_problem``); the pause step
keeps the fleet's pause (a row in PostgreSQL, shared.rate.pause) mirrored in
Redis and, on its backoff, asks SES whether the account may send again (and is
HEALTHY), resuming every sender when it may.
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError

from shared.rate.pause import FleetPause
from shared.rate.quota import Quota, QuotaStore
from shared.transports.ses import classify_client_error, read_quota

log = logging.getLogger("mailpipe.scheduler")

#: Why the fleet pauses while GetAccount says the account may not send.
DISABLED = "SES reports sending is disabled for this account (GetAccount: SendingEnabled false)"
#: Why it pauses while the account is under review or shut down (the reputation guard).
UNHEALTHY = ("SES reports the account's enforcement status as {status} (GetAccount; HEALTHY "
             "expected): its bounce or complaint rates are under review, so the fleet stops "
             "before they get worse; it resumes when SES reports HEALTHY again")


def account_problem(quota: Quota, *, review: bool = True) -> str | None:
    """Why the account should not send now, from GetAccount, or None: sending disabled, or
    (``review``: MAILPIPE_GUARD_ACCOUNT_REVIEW) an enforcement status other than HEALTHY
    (PROBATION, SHUTDOWN)."""
    if not quota.enabled:
        return DISABLED
    if review and quota.enforcement.upper() != "HEALTHY":
        return UNHEALTHY.format(status=quota.enforcement)
    return None


def refresh_quota(client, store: QuotaStore | None, pause: FleetPause | None = None, *,
                  review: bool = True) -> bool:
    """Read the account's quota from SES and share it with the fleet (``store``: only
    with ``MAILPIPE_SEND_RATE=auto``); False if SES failed.

    On failure the previous reading stays until it expires, then senders
    stop: they never run on numbers nobody has confirmed for 10 minutes.
    An account-level refusal (credentials, signature, permissions), sending
    disabled or an account under review pauses the fleet (``pause``), as a refused
    send does; the pause step lifts it when GetAccount reports the account well.
    """
    try:
        quota = read_quota(client)
    except ClientError as exc:
        log.error("cannot read the SES quota (GetAccount): %s", exc)
        refused = classify_client_error(exc)
        if pause is not None and refused.pauses_fleet:
            pause.pause(str(refused))
        return False
    except BotoCoreError as exc:
        log.error("cannot read the SES quota (GetAccount): %s", exc)
        return False
    if store is not None:
        store.save(quota)
    log.info("SES quota: %.0f/s, %.0f of %.0f sent in 24 h, sending %s, enforcement %s",
             quota.max_send_rate, quota.sent_24h, quota.max_24h,
             "enabled" if quota.enabled else "DISABLED", quota.enforcement)
    problem = account_problem(quota, review=review)
    if pause is not None and problem:
        pause.pause(problem)
    return True


def watch_pause(client, pause: FleetPause, *, review: bool = True) -> bool:
    """One step of the fleet's pause; True when it was lifted.

    Keeps the Redis mirror set from PostgreSQL (a flushed Redis does not
    resume the fleet), and when the probe is due and this scheduler takes
    it (one conditional statement, which also schedules the next), asks SES
    GetAccount: an answer that lets the account send resumes every sender.
    """
    if pause.mirror() is None:
        return False
    probe = pause.take_probe()
    if probe is None:
        return False
    try:
        problem = account_problem(read_quota(client), review=review)
    except (BotoCoreError, ClientError) as exc:
        log.warning("SES still refuses the account (probe %d since %s; next at %s): %s",
                    probe.probes, f"{probe.paused_at:%H:%M:%S}", f"{probe.next_probe_at:%H:%M:%S}",
                    exc)
        return False
    if problem:
        log.warning("SES answers but the account may not send yet (probe %d); still paused: "
                    "%s", probe.probes, problem)
        return False
    reason = pause.resume()
    log.warning("SES answers again (GetAccount): sending resumed after a pause of the fleet "
                "since %s: %s", f"{probe.paused_at:%H:%M:%S}", reason)
    return True
