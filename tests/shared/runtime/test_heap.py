"""The garbage collector as workers set it (shared.runtime.heap), in a process of its own."""

import json
import subprocess
import sys

from shared.runtime import heap

PROBE = """
import gc, json
from shared.runtime import heap
import boto3  # a worker's long-lived objects
kept = [{"n": i} for i in range(5000)]
before = gc.get_freeze_count()
heap.settle()
settled = gc.get_stats()[0]["collections"]
young = [[i] for i in range(10_000)]  # a batch's short-lived rows
young_collections = gc.get_stats()[0]["collections"] - settled
print(json.dumps({"frozen_before": before, "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold(), "young_collections": young_collections}))
"""


def test_a_settled_worker_keeps_its_setup_out_of_collections_and_lets_rows_die_young():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=60)
    probe = json.loads(out.stdout)
    # Everything alive at settle() (boto3's modules, the 5,000 kept dicts) is frozen.
    assert probe["frozen_before"] == 0
    assert probe["frozen"] > 5000
    assert probe["threshold"][0] == heap.YOUNG_GENERATION
    # Allocating 10,000 containers after settle() ran no young collection
    # (with Python's default of 700 it would have run about 14).
    assert probe["young_collections"] == 0
