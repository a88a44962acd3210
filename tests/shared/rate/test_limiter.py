"""One budget for the whole fleet: shared across processes, weighted by recipients."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time

import pytest
import redis as redis_lib

from bench.rate import most_in_any_second
from services.scheduler.quota import refresh_quota
from services.sender.pacing import SPLIT_LEAST
from shared.errors import SendingPaused
from shared.rate.limiter import (
    LOST_LEAD,
    MAX_LEAD,
    SLOW_START_SHARE,
    SLOW_START_SLACK,
    SPARSE_LATE_TOLERANCE,
    TAT_KEY,
    WINDOW_CREDIT,
    WINDOW_KEY,
    WINDOW_MARGIN,
    WINDOW_SUM_KEY,
    FleetRateLimiter,
    QuotaRate,
    RedisClock,
)
from shared.rate.quota import HEADROOM, QuotaStore
from shared.transports.ses import ses_client

RATE = 40.0
SECONDS = 2.5


def _sender_process(url: str, rate: float, ready, go, out) -> None:
    """A process of 4 threads sending as fast as the shared bucket allows."""
    limiter = FleetRateLimiter(redis_lib.Redis.from_url(url), rate)
    ready.release()
    go.wait()  # both processes begin together
    until = time.time() + SECONDS
    stamps: list[float] = []

    def thread() -> None:
        while True:
            send_at = limiter.reserve()
            if send_at > time.monotonic() + (until - time.time()):
                return
            limiter.wait_for_slot(send_at)
            stamps.append(time.time())

    threads = [threading.Thread(target=thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(stamps)


def test_two_processes_sharing_the_bucket_stay_within_the_rate(settings, redis):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    ready, go = ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=_sender_process,
                         args=(settings.redis_url, RATE, ready, go, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    for _ in procs:
        assert ready.acquire(timeout=60)
    go.set()
    per_process = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert all(per_process), "both processes should have sent"
    stamps = [s for sent in per_process for s in sent]
    # Each process alone would happily send 4 threads' worth; together they
    # share one budget: about RATE per second, never more in any second.
    assert most_in_any_second(stamps) <= RATE + 1
    assert len(stamps) >= RATE * (SECONDS - 1)


def test_a_message_with_three_recipients_takes_three_tokens(redis):
    limiter = FleetRateLimiter(redis, 10.0)
    first = limiter.reserve(3)
    second = limiter.reserve(1)
    assert second - first == pytest.approx(0.3, abs=0.02)


def test_slow_start_uses_less_of_the_rate_after_a_start_and_after_a_change(redis):
    rate = [100.0]
    limiter = FleetRateLimiter(redis, lambda: rate[0], slow_start=0.5)

    def spacing() -> float:  # seconds one send of 10 recipients holds the bucket
        first = limiter.reserve(10)
        return limiter.reserve(1) - first

    assert spacing() == pytest.approx(10 / (100 * SLOW_START_SHARE), abs=0.002)  # just started
    time.sleep(0.6)
    assert spacing() == pytest.approx(10 / 100, abs=0.002)  # full rate
    rate[0] = 200.0
    assert spacing() == pytest.approx(10 / (200 * SLOW_START_SHARE), abs=0.002)  # changed
    time.sleep(0.6)
    assert spacing() == pytest.approx(10 / 200, abs=0.002)


def test_released_tokens_are_given_back(redis):
    limiter = FleetRateLimiter(redis, 100.0)
    limiter.reserve_for_key(7, 10.0, 5)
    limiter.release_for_key(7, 10.0, 5)
    assert limiter.reserve_for_key(7, 10.0, 1) - time.monotonic() < 0.05


def test_a_throttle_holds_the_whole_fleet_once_however_many_arrive(redis):
    limiter = FleetRateLimiter(redis, 100.0)
    for _ in range(4):  # four sends throttled together
        limiter.penalize(0.25)
    wait = limiter.reserve(1) - time.monotonic()
    assert 0.2 < wait < 0.3


def reserved_recently(redis) -> int:
    """Recipients the fleet's bucket counted in its recent seconds: one per reservation here."""
    return sum(int(redis.get(key)) for key in redis.scan_iter(f"{TAT_KEY}:sent:*"))


def script_calls(redis) -> int:
    """Lua script calls Redis has run so far (an EVALSHA that found no script not counted)."""
    stats = redis.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0)
               - stats.get(f"cmdstat_{name}", {}).get("failed_calls", 0)
               for name in ("evalsha", "eval"))


@pytest.mark.parametrize("bursts", [True, False], ids=["window", "bucket"])
def test_a_sparse_fleet_leases_a_threads_next_slots_in_the_same_redis_call(redis, bursts):
    limiter = FleetRateLimiter(redis, 1_000_000.0, bursts=bursts)
    before = script_calls(redis)
    slots = [limiter.reserve(1, ahead=9)] + [limiter.reserve(1) for _ in range(9)]
    assert script_calls(redis) - before == 1
    assert reserved_recently(redis) == 10  # the other senders see all ten
    assert slots == sorted(slots) and slots[-1] - time.monotonic() < 0.01
    limiter.reserve(1)  # the lease is spent: Redis again
    assert script_calls(redis) - before == 2 and reserved_recently(redis) == 11


def test_a_fleet_near_its_rate_leases_nothing(redis):
    limiter = FleetRateLimiter(redis, 40.0)
    before = script_calls(redis)
    slots = [limiter.reserve(1, ahead=9) for _ in range(5)]
    assert script_calls(redis) - before == 5
    assert reserved_recently(redis) == 5
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert all(g == pytest.approx(1 / 40, abs=0.005) for g in gaps)


def test_a_lease_is_given_up_when_it_expires_or_a_throttle_comes(redis, monkeypatch):
    from shared.rate import limiter as limiter_module

    limiter = FleetRateLimiter(redis, 1_000_000.0)
    limiter.reserve(1, ahead=5)
    limiter.penalize(0.1)  # SES said "too fast": the leased slots are not used
    assert limiter.reserve(1) - time.monotonic() > 0.05
    monkeypatch.setattr(limiter_module, "LEASE_SECONDS", 0.05)
    limiter.reserve(1, ahead=5)
    time.sleep(0.1)
    before = script_calls(redis)
    limiter.reserve(1)
    assert script_calls(redis) - before == 1


@pytest.mark.parametrize(("rate", "reservations"), [
    (1_000_000.0, 1),  # far below its rate: the late slot is used as it is
    (100.0, 2),        # near its rate: the late slot is given up for a fresh one
])
def test_a_late_slot_is_given_up_only_when_lateness_could_matter(redis, rate, reservations):
    limiter = FleetRateLimiter(redis, rate, bursts=False)
    send_at = limiter.reserve()
    time.sleep(0.05)  # the thread woke late: well past LATE_TOLERANCE
    limiter.wait_for_slot(send_at)
    assert reserved_recently(redis) == reservations


def test_a_slow_reply_does_not_make_its_slot_late():
    clock = RedisClock()
    clock.observe(1_000_000_000, sent=10.0, received=10.0002)  # quick: Redis = local + 990 s
    # Redis answered at once but the reply was read 90 ms later (GIL): the
    # slot it names is still placed by the quick round trip's offset.
    clock.observe(1_000_010_000, sent=10.009, received=10.1)
    assert clock.local(1_000_100_000) == pytest.approx(10.1001, abs=1e-4)


@pytest.fixture
def ses_settings(settings, fake_ses):
    """Settings whose SES client (``ses_client``, as the scheduler builds it) is the fake's."""
    return settings.model_copy(update={"aws_region": "us-east-1"})


def test_auto_rate_is_read_from_ses_get_account(redis, fake_ses, ses_settings):
    fake_ses.account["SendQuota"] = {"MaxSendRate": 200.0, "Max24HourSend": 1000.0,
                                     "SentLast24Hours": 400.0}
    store = QuotaStore(redis)
    rate = QuotaRate(store, cache_seconds=0)
    with pytest.raises(SendingPaused, match="waiting for the scheduler"):
        rate()
    client = ses_client(ses_settings)
    assert refresh_quota(client, store)
    assert rate() == pytest.approx(200.0 * HEADROOM)
    assert store.load().remaining_24h == 600


def test_spent_daily_quota_stops_sending_until_ses_allows(redis, fake_ses, ses_settings):
    fake_ses.account["SendQuota"] = {"MaxSendRate": 14.0, "Max24HourSend": 100.0,
                                     "SentLast24Hours": 99.0}
    store = QuotaStore(redis)
    client = ses_client(ses_settings)
    refresh_quota(client, store)
    rate = QuotaRate(store, cache_seconds=0)
    assert rate() > 0
    store.record_sent(1)
    with pytest.raises(SendingPaused, match="24-hour SES quota"):
        rate()
    fake_ses.account["SendQuota"]["SentLast24Hours"] = 50.0  # the window moved on
    refresh_quota(client, store)
    assert rate() > 0


def test_account_with_sending_disabled_pauses(redis, fake_ses, ses_settings):
    fake_ses.account["SendingEnabled"] = False
    store = QuotaStore(redis)
    refresh_quota(ses_client(ses_settings), store)
    with pytest.raises(SendingPaused, match="disabled"):
        QuotaRate(store, cache_seconds=0)()


def test_a_bulk_slot_waits_until_no_sliding_second_would_hold_more_than_the_rate(redis):
    limiter = FleetRateLimiter(redis, 10.0)
    singles = [limiter.reserve(1) for _ in range(9)]  # 0.1 s apart
    bulk = limiter.reserve(10)                          # ten recipients at one instant
    after = limiter.reserve(1)
    # Bucket alone: the call would go 0.1 s after the last single, 19 in one second.
    assert bulk >= singles[-1] + 1.0 - 0.01
    assert after >= bulk + 1.0 - 0.01                   # and nothing joins it within a second
    gaps = [b - a for a, b in zip(singles, singles[1:], strict=False)]
    assert all(g == pytest.approx(0.1, abs=0.01) for g in gaps)


def test_bulk_calls_in_a_row_are_spaced_by_their_recipients_only(redis):
    limiter = FleetRateLimiter(redis, 20.0 * HEADROOM)  # R = 20, paced as senders pace it
    calls = [limiter.reserve(10) for _ in range(4)]
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    # Ten of R=20 at the pace the sliding-second check admits: 2 a second.
    assert all(g == pytest.approx(10 * (1 + WINDOW_MARGIN) / 20.0, abs=0.005) for g in gaps)


def test_with_bulk_calls_the_bucket_paces_at_what_the_sliding_second_admits(redis):
    rate = 1000.0  # R
    with_window = FleetRateLimiter(redis, rate * HEADROOM)
    singles = [with_window.reserve(1) for _ in range(900)]
    span = singles[-1] - singles[0]
    # R per 1 + WINDOW_MARGIN s (98.8% of R), not the headroom's 98.5%.
    assert span == pytest.approx(899 * (1 + WINDOW_MARGIN) / rate, abs=0.0005)
    redis.flushall()
    bucket_alone = FleetRateLimiter(redis, rate * HEADROOM, bursts=False)
    singles = [bucket_alone.reserve(1) for _ in range(900)]
    assert singles[-1] - singles[0] == pytest.approx(899 / (rate * HEADROOM), abs=0.0005)


def test_slots_of_a_sender_in_its_slow_start_hold_their_second_longer(redis):
    starting = FleetRateLimiter(redis, 20.0 * HEADROOM, slow_start=30)
    running = FleetRateLimiter(redis, 20.0 * HEADROOM)
    first = starting.reserve(10)
    # Its call may reach SES up to SLOW_START_SLACK late: the next call that
    # would overflow a second with it waits for that second to clear after it.
    second = running.reserve(15)
    assert second >= first + 1.0 + WINDOW_MARGIN + SLOW_START_SLACK - 0.002


def most_recipients_in_any_second(sends: list[tuple[float, int]]) -> int:
    """The most recipients any sliding second holds, of (send time, recipients) pairs."""
    return most_in_any_second([at for at, recipients in sends for _ in range(recipients)])


def send_when_allowed(limiter: FleetRateLimiter, recipients: int) -> float:
    """Reserve and wait as a sender thread does; the slot it sends at."""
    return limiter.wait_for_slot(limiter.reserve(recipients), recipients)


def test_late_sends_of_a_sparse_fleet_and_bulk_calls_never_exceed_the_rate(redis):
    rate = 1000.0  # R: SES's limit; the fleet paces at R * HEADROOM
    limiter = FleetRateLimiter(redis, rate * HEADROOM)
    # A fleet far below its rate: a thread's lone sends and the slots it leased
    # for the next ones may each be used up to SPARSE_LATE_TOLERANCE late (a
    # starved CPU), and are, here, as late as that.
    sends = []
    for _ in range(3):
        at = limiter.reserve(1)
        sends.append((at + limiter.late_tolerance, 1))
    leased = [limiter.reserve(1, ahead=9)] + [limiter.reserve(1) for _ in range(9)]
    assert limiter.late_tolerance == SPARSE_LATE_TOLERANCE
    sends += [(at + SPARSE_LATE_TOLERANCE, 1) for at in leased]
    # Then a campaign's bulk calls, four threads of them, for two seconds: a
    # second of them filled up to R used to land on the late sends (1,012 in
    # one sliding second).
    bulk: list[float] = []

    def thread() -> None:
        while len(bulk) < 40:
            bulk.append(send_when_allowed(limiter, 50))

    threads = [threading.Thread(target=thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sends += [(at, 50) for at in bulk]
    assert most_recipients_in_any_second(sends) <= rate
    assert most_recipients_in_any_second([(at, 50) for at in bulk]) >= 0.9 * rate  # R is used


def test_a_redis_flush_mid_run_does_not_hand_out_slots_already_held(redis):
    rate = 10.0
    limiter = FleetRateLimiter(redis, rate * HEADROOM)
    sent: list[float] = []

    def thread() -> None:
        sent.append(send_when_allowed(limiter, 1))

    first = [threading.Thread(target=thread) for _ in range(20)]  # 2 s of slots reserved
    for t in first:
        t.start()
    time.sleep(0.3)
    redis.flushall()  # the threads still sleep toward the slots they hold
    then = [threading.Thread(target=thread) for _ in range(20)]
    for t in then:
        t.start()
    for t in first + then:
        t.join()
    assert len(sent) == 40
    # Not twice the rate in the second after the flush: at most R in any sliding second.
    assert most_in_any_second(sent) <= rate


def test_no_slot_is_handed_out_more_than_max_lead_ahead(redis):
    limiter = FleetRateLimiter(redis, 10.0)
    slots = [limiter.reserve(1) for _ in range(30)]  # 3 s of slots asked for at once
    held = reserved_recently(redis)
    assert held == pytest.approx(MAX_LEAD * 10, abs=1)  # the rest were not reserved
    assert max(slots) - time.monotonic() <= MAX_LEAD + 0.2  # when they would be, for now


def test_after_a_lost_state_a_running_sender_restarts_it_past_every_slot_held(redis):
    running = FleetRateLimiter(redis, 100.0)
    running.reserve(1)
    redis.flushall()  # or a restart without persistence: the tat is gone
    assert running.reserve(1) - time.monotonic() == pytest.approx(LOST_LEAD, abs=0.05)
    assert redis.exists(TAT_KEY)  # restarted once, not moved on by every caller
    assert running.reserve(1) - time.monotonic() == pytest.approx(LOST_LEAD, abs=0.05)
    # A sender that has never reserved holds no slot of the old state: the
    # fleet's first start does not wait (here, the state above is kept).
    redis.flushall()
    assert FleetRateLimiter(redis, 100.0).reserve(1) - time.monotonic() < 0.05


def test_a_throttle_after_a_lost_state_does_not_shorten_its_restart(redis):
    limiter = FleetRateLimiter(redis, 100.0)
    limiter.reserve(1)
    redis.flushall()
    limiter.penalize(0.25)
    assert limiter.reserve(1) - time.monotonic() == pytest.approx(LOST_LEAD, abs=0.05)


def test_a_reservation_refused_beyond_max_lead_changes_nothing(redis):
    limiter = FleetRateLimiter(redis, 20.0)
    for recipients in (10, 10, 10, 10):  # 0, 0.5, 1.0 (the second cleared), 1.5 s ahead
        limiter.reserve(recipients)
    before = (redis.get(TAT_KEY), redis.zrange(WINDOW_KEY, 0, -1, withscores=True),
              redis.get(WINDOW_SUM_KEY))
    # 15 more would wait for the sliding second after the 1.5 s call: beyond MAX_LEAD.
    limiter.reserve(15)
    after = (redis.get(TAT_KEY), redis.zrange(WINDOW_KEY, 0, -1, withscores=True),
             redis.get(WINDOW_SUM_KEY))
    assert after == before  # its window is still whole for the next reservation


def test_a_bulk_call_takes_the_part_of_its_recipients_its_second_has_room_for(redis):
    limiter = FleetRateLimiter(redis, 20.0)  # any sliding second holds 20.3 at most
    singles = [limiter.reserve(1) for _ in range(12)]
    at, granted = limiter.reserve_part(15, 5)
    assert granted == 8  # what fits now, not all 15 a second later
    assert at == pytest.approx(singles[-1] + 1 / 20.0, abs=0.01)  # the bucket's own slot
    # The rest: nothing fits until 5 of the singles have left the sliding second.
    rest, granted = limiter.reserve_part(7, 5)
    assert granted == 5
    assert rest == pytest.approx(singles[4] + 1.0 + WINDOW_MARGIN, abs=0.01)
    assert most_recipients_in_any_second(
        [(s, 1) for s in singles] + [(at, 8), (rest, 5)]) <= 20


def test_fewer_than_least_recipients_are_not_split_off(redis):
    limiter = FleetRateLimiter(redis, 20.0)
    singles = [limiter.reserve(1) for _ in range(17)]  # room for 3 of the call
    at, granted = limiter.reserve_part(10, 5)
    assert granted == 5  # once 2 more singles left the second
    assert at == pytest.approx(singles[1] + 1.0 + WINDOW_MARGIN, abs=0.01)
    # All or nothing, as reserve: a call of 4 is not split at all.
    at, granted = limiter.reserve_part(4, 4)
    assert granted == 4


def test_a_wait_for_the_sliding_second_is_caught_up_after_it(redis):
    limiter = FleetRateLimiter(redis, 20.0)
    singles = [limiter.reserve(1) for _ in range(16)]  # 0.05 s apart
    bulk = limiter.reserve(10)
    assert bulk == pytest.approx(singles[5] + 1.0 + WINDOW_MARGIN, abs=0.01)
    after = limiter.reserve(1)
    # The bucket alone would have sent the call right after the singles, and
    # the next send 10/20 s after it: it waited 0.46 s for its second, of
    # which WINDOW_CREDIT is not charged again (before: the whole 0.5 s after it).
    assert after - bulk == pytest.approx(10 / 20.0 - WINDOW_CREDIT, abs=0.01)
    assert most_recipients_in_any_second(
        [(s, 1) for s in singles] + [(bulk, 10), (after, 1)]) <= 20


def test_slots_are_handed_out_in_order_however_much_is_caught_up(redis, monkeypatch):
    monkeypatch.setattr("shared.rate.limiter.MAX_LEAD", 5.0)  # room for 2.5 s of slots
    limiter = FleetRateLimiter(redis, 20.0)
    singles = [limiter.reserve(1) for _ in range(16)]
    first = limiter.reserve(10)  # waits for 6 singles to leave its second
    calls = [limiter.reserve(4) for _ in range(3)]  # the third waits 0.36 s for the first's
    # The bucket's slot after a call of 4 that waited longer than it holds the
    # bucket and the credit lies before that call: the next slot is not, so
    # every slot's second is checked whole (the first call, dropped from the
    # window by the third's check, would have been missed).
    after = limiter.reserve(1)
    assert calls[2] - calls[1] > 4 / 20.0 + 0.1
    assert after >= calls[2] - 0.001  # (each mapped from Redis's clock on its own)
    assert most_recipients_in_any_second(
        [(s, 1) for s in singles] + [(first, 10)] + [(c, 4) for c in calls] + [(after, 1)]
    ) <= 20


@pytest.mark.parametrize("rate", [14.0, 200.0, 1000.0])
def test_mixed_single_and_bulk_slots_never_put_more_than_the_rate_in_a_second(redis, rate):
    """As many slots as MAX_LEAD allows: single sends and calls of 2-50, split as senders do."""
    limiter = FleetRateLimiter(redis, rate * HEADROOM)
    draw = random.Random(int(rate))
    sends: list[tuple[float, int]] = []
    left = 0
    while True:
        wanted = left or (1 if draw.random() < 0.3 else draw.randint(2, min(50, int(rate))))
        at, granted = limiter.reserve_part(wanted, min(wanted, SPLIT_LEAST))
        if not granted:  # beyond MAX_LEAD: two seconds of slots are handed out
            break
        sends.append((at, granted))
        left = wanted - granted
    assert sum(granted for _, granted in sends) >= rate * (MAX_LEAD - 0.5)
    assert most_recipients_in_any_second(sends) <= rate
    assert [at for at, _ in sends] == sorted(at for at, _ in sends)

