"""Run N copies of a process function, replacing any that die.

A killed sender child is replaced, not the whole sender brought down. On
SIGTERM or SIGINT the supervisor forwards SIGTERM to its children, waits up
to ``grace`` seconds for them to drain and exit, then kills the rest.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections.abc import Callable

log = logging.getLogger("mailpipe.supervisor")


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


def supervise(
    name: str, target: Callable[[], None], count: int, *, grace: float = 30.0,
    restart_delay: float = 1.0,
) -> int:
    """Keep ``count`` children running ``target`` until asked to stop; returns an exit code."""
    ctx = multiprocessing.get_context("fork")
    flag = ShutdownFlag().install()
    children: dict[int, multiprocessing.Process] = {}

    def start(slot: int) -> None:
        child = ctx.Process(target=target, name=f"{name}-{slot}", daemon=False)
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
