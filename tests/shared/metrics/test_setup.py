"""Where metrics are served and kept: a chosen address, and nothing left behind after a stop."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import requests

from shared.metrics import setup
from shared.runtime.localservers import free_port
from tests.support.net import listening_addresses


def test_metrics_are_served_on_the_configured_address_only():
    port = free_port()
    setup.serve(port, "127.0.0.1")
    assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
    assert listening_addresses(port) == {"127.0.0.1"}


def test_a_clean_exit_removes_the_multiprocess_folder_its_process_made(tmp_path):
    script = ("import sys; from shared.metrics.setup import prepare; "
              "folder = prepare('sender', sys.argv[1]); print(folder, oct(folder.stat().st_mode))")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True,
                         capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(tmp_path / "mailpipe-metrics-sender-"))
    assert stat.S_IMODE(int(out[1], 8)) == 0o700
    assert list(tmp_path.iterdir()) == []


def test_a_forked_worker_leaving_does_not_remove_the_folder_its_siblings_use(tmp_path):
    folder = tmp_path / "mailpipe-metrics-api-1"
    folder.mkdir()
    setup._remove(folder, owner=os.getpid() + 1)  # as in a worker: not the maker
    assert folder.exists()
    setup._remove(folder, owner=os.getpid())
    assert not folder.exists()
