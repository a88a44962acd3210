"""The scheduler's quota step (MAILPIPE_SEND_RATE=auto): SES GetAccount into Redis."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError

from shared.rate.quota import QuotaStore
from shared.transports.ses import read_quota

log = logging.getLogger("mailpipe.scheduler")


def refresh_quota(client, store: QuotaStore) -> bool:
    """Read the account's quota from SES and share it with the fleet; False if SES failed.

    On failure the previous reading stays until it expires, then senders
    stop: they never run on numbers nobody has confirmed for 10 minutes.
    """
    try:
        quota = read_quota(client)
    except (BotoCoreError, ClientError) as exc:
        log.error("cannot read the SES quota (GetAccount): %s", exc)
        return False
    store.save(quota)
    log.info("SES quota: %.0f/s, %.0f of %.0f sent in 24 h, sending %s",
             quota.max_send_rate, quota.sent_24h, quota.max_24h,
             "enabled" if quota.enabled else "DISABLED")
    return True
