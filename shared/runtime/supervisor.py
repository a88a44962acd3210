"""Run N copies of a process function, replacing any that die.

A killed sender child is replaced, not the whole sender brought down. On
SIGTERM or SIGINT the supervisor forwards SIGTERM to its children, waits up
to ``grace`` seconds for them to drain and exit, then kills the rest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger("mailpipe.supervisor")

#: prctl(2) option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


class ShutdownFlag:
    """Set by SIGTERM/SIGINT; loops poll it and drain."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> ShutdownFlag:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def wait(self, poll: float = 0.2) -> None:
        while not self.requested:
            time.sleep(poll)


def _exit_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGTERM this process when its supervisor dies.

    A supervisor killed alone (``kill -9`` of its pid) would otherwise leave
    its children consuming forever, outside any process group a restarted
    supervisor stops. SIGTERM makes them drain and hand back like any stop.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: children outlive a killed supervisor
        return
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _child(target: Callable[[], None], parent_pid: int) -> None:
    # The supervisor's own handlers were inherited with the fork: until
    # ``target`` installs its own, a SIGTERM must simply end this child.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _exit_with_parent(parent_pid)
    target()


def supervise(
    name: str, target: Callable[[], None], count: int, *, grace: float = 30.0,
    restart_delay: float = 1.0,
) -> int:
    """Keep ``count`` children running ``target`` until asked to stop; returns an exit code."""
    ctx = multiprocessing.get_context("fork")
    flag = ShutdownFlag().install()
    children: dict[int, multiprocessing.Process] = {}

    def start(slot: int) -> None:
        child = ctx.Process(target=_child, args=(target, os.getpid()), name=f"{name}-{slot}",
                            daemon=False)
        child.start()
        children[slot] = child
        log.info("%s child %d started (pid %d)", name, slot, child.pid)

    for slot in range(count):
        start(slot)
    while not flag.requested:
        time.sleep(0.2)
        for slot, child in list(children.items()):
            if not child.is_alive() and not flag.requested:
                log.warning(
                    "%s child %d (pid %d) exited with %s; starting a new one",
                    name, slot, child.pid, child.exitcode,
                )
                time.sleep(restart_delay)
                start(slot)
    log.info("%s: stopping %d children", name, len(children))
    for child in children.values():
        if child.is_alive():
            child.terminate()  # SIGTERM: the child drains
    deadline = time.monotonic() + grace
    for child in children.values():
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            log.warning("%s child pid %d did not stop in %.0fs; killing it", name, child.pid, grace)
            child.kill()
            child.join()
    return 0
