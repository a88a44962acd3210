"""Supervised children: replaced when killed, gone when their supervisor is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.stack import wait_for

SUPERVISED = """
import os, sys, time
from pathlib import Path
from shared.runtime.supervisor import ShutdownFlag, supervise

def child():
    flag = ShutdownFlag().install()
    Path(sys.argv[1], str(os.getpid())).touch()
    flag.wait(0.05)

supervise("test", child, 2, restart_delay=0.1)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too; it waits for init to reap it.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] != "Z"


def _start(folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SUPERVISED, str(folder)],
                            start_new_session=True)


def test_killed_child_is_replaced(tmp_path):
    supervisor = _start(tmp_path)
    try:
        first = wait_for(lambda: sorted(int(p.name) for p in tmp_path.iterdir())
                         if len(list(tmp_path.iterdir())) == 2 else None, 15, "two children")
        os.kill(first[0], signal.SIGKILL)
        wait_for(lambda: len(list(tmp_path.iterdir())) == 3, 15, "a replacement child")
    finally:
        os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.wait()


def test_children_stop_when_their_supervisor_is_killed_alone(tmp_path):
    supervisor = _start(tmp_path)
    children: list[int] = []
    try:
        children = wait_for(lambda: [int(p.name) for p in tmp_path.iterdir()]
                            if len(list(tmp_path.iterdir())) == 2 else None, 15, "two children")
        os.kill(supervisor.pid, signal.SIGKILL)  # the supervisor only, not its group
        supervisor.wait()
        started = time.monotonic()
        wait_for(lambda: not any(_alive(pid) for pid in children), 10,
                 "the orphaned children to stop")
        assert time.monotonic() - started < 10
    finally:
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
