"""The garbage collector set for long-running workers (sender, recorder).

A full collection walks every object the process holds (boto3's models,
SQLAlchemy, dramatiq: ~140,000), stopping all its threads for tens of
milliseconds; sends held up together reach SES in a bunch that trips its
per-second limit. What exists once a worker is set up lives as long as the
process, so it is kept out of the collector's walks (``gc.freeze``).

What a worker allocates afterwards is almost all freed by reference
counting as soon as a send or a batch is done; only cycles (botocore makes
a few per call) need the collector. With the default threshold (a young
collection every 700 new containers) a bulk sender ran ~150 young
collections a second and promoted short-lived rows to the older
generations, whose collections then walked them again: ~11 µs of a bulk
sender's ~100 µs of CPU per recipient. A young generation of 20,000 lets
those rows die young first (measured: 0.2 µs per recipient), at the cost of
holding at most that many cyclic garbage containers (a few MB).
"""

from __future__ import annotations

import gc

#: New containers between two collections of the young generation (default 700).
YOUNG_GENERATION = 20_000


def settle() -> None:
    """Call once a worker is set up, before it takes work."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, middle, old)
