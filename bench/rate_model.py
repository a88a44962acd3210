"""bench/rate_model.py: the fleet limiter's placement rules in virtual time, without the noise.

On this busy 2-core machine the whole fleet (bench/rate.py) and even the
limiter alone (bench/rate_limiter.py) are often held back by the CPU, which
hides what the placement rules cost. This models them: the bucket (R x
HEADROOM, or what the window admits, R / (1 + WINDOW_MARGIN), as the
fleet now paces) and the sliding-second check (at most R in any 1 +
WINDOW_MARGIN s) of shared/rate/scripts.py's window script, with its
issue-29 changes switchable: ``part`` (a bulk call takes the part its
second has room for, at least ``least``), ``credit`` (a wait for the second
is not charged to the bucket again, up to WINDOW_CREDIT) and the pace. 32 threads each
reserve, wait for their slot, "send" (arriving up to 3 ms later) and wait
20-26 ms for SES's answer; a fifth of the sends carry one recipient, the
rest 10-30. Reports achieved/R over 50 s after 10, the most arrivals in
any sliding second and calls per recipient, per variant and R, 3 seeds.

    .venv/bin/python bench/rate_model.py

A model: it says what the rules allow when every thread wakes on time,
not what a loaded machine gets.
"""

from __future__ import annotations

import heapq
import random
import sys
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.sender.pacing import SPLIT_LEAST  # noqa: E402
from shared.rate.limiter import WINDOW_CREDIT, WINDOW_MARGIN  # noqa: E402
from shared.rate.quota import HEADROOM  # noqa: E402

WINDOW = 1.0 + WINDOW_MARGIN


class Model:
    def __init__(self, rate: float, part: bool, credit: bool, least: int = SPLIT_LEAST,
                 window_pace: bool = True) -> None:
        self.rate, self.cap = rate / WINDOW if window_pace else rate * HEADROOM, rate
        self.part, self.credit, self.least = part, WINDOW_CREDIT if credit else 0.0, least
        self.tat = self.last = 0.0
        self.window: list[tuple[float, int]] = []

    def reserve(self, now: float, n: int) -> tuple[float, int]:
        start = paced = max(now, self.tat, self.last)
        window = [e for e in self.window if e[0] > start - WINDOW]
        held, gone = sum(k for _, k in window), 0
        while held and held + n > self.cap:
            room = int(self.cap - held)
            if self.part and room >= min(n, self.least):
                n = room
                break
            start = window[gone][0] + WINDOW + 1e-6
            while gone < len(window) and window[gone][0] <= start - WINDOW:
                held, gone = held - window[gone][1], gone + 1
        self.window = [*window[gone:], (start, n)]
        self.last = start
        self.tat = max(paced, start - self.credit) + n / self.rate
        return start, n


def run(model: Model, rate: float, seed: int, seconds: float = 60, warmup: float = 10,
        threads: int = 32) -> tuple[float, int, float]:
    draw = random.Random(seed)
    events = [(draw.random() * 0.05, t) for t in range(threads)]
    heapq.heapify(events)
    left: dict[int, int] = {}
    arrivals: list[tuple[float, int]] = []
    while events:
        now, thread = heapq.heappop(events)
        if now > seconds:
            break
        wanted = left.pop(thread, 0) or (1 if draw.random() < 0.2 else draw.randint(10, 30))
        start, n = model.reserve(now, wanted)
        if n < wanted:
            left[thread] = wanted - n
        arrivals.append((start + draw.random() * 0.003, n))
        heapq.heappush(events, (start + 0.020 + draw.random() * 0.006, thread))
    arrivals.sort()
    sent = sum(n for at, n in arrivals if warmup <= at < seconds)
    most, held, inside = 0, 0, deque()
    for at, n in arrivals:
        inside.append((at, n))
        held += n
        while at - inside[0][0] >= 1.0:
            held -= inside.popleft()[1]
        most = max(most, held)
    return round(100 * sent / (seconds - warmup) / rate, 1), most, round(len(arrivals) / sum(
        n for _, n in arrivals), 3)


def main() -> None:
    for rate in (200.0, 1000.0):
        # (part, credit, least, pace at what the window admits)
        for name, rules in (("before", (False, False, 5, False)),
                            ("part only", (True, False, 5, False)),
                            ("credit only", (False, True, 5, False)),
                            ("both (session 10)", (True, True, 5, False)),
                            ("now", (True, True, SPLIT_LEAST, True))):
            runs = [run(Model(rate, *rules), rate, seed) for seed in range(3)]
            print(f"R={rate:.0f} {name:17} achieved/R % {[r[0] for r in runs]}  most in a "
                  f"second {[r[1] for r in runs]}  calls/recipient {[r[2] for r in runs]}")


if __name__ == "__main__":
    main()
