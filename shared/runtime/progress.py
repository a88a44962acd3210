"""Progress of long command-line work: a tqdm bar on a terminal, plain lines otherwise.

Plain lines (a log file, a pipe, CI) say how far the work got at most every
``PLAIN_EVERY`` seconds and once at the end, so they never flood a log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

#: Seconds between two plain progress lines.
PLAIN_EVERY = 2.0


class Progress:
    """Counts work done; ``advance`` after each piece, ``note`` for what it was."""

    def __init__(self, description: str, total: int | None, stream: TextIO, unit: str) -> None:
        self.description, self.total, self.stream, self.unit = description, total, stream, unit
        self.done = 0
        self.detail = ""
        self._started = self._printed = time.monotonic()
        self._bar = (tqdm(total=total, desc=description, unit=unit, file=stream,
                          dynamic_ncols=True) if stream.isatty() else None)

    def advance(self, n: int = 1, detail: str | None = None) -> None:
        self.done += n
        if detail is not None:
            self.detail = detail
        if self._bar is not None:
            if detail is not None:
                self._bar.set_postfix_str(detail, refresh=False)
            self._bar.update(n)
        elif time.monotonic() - self._printed >= PLAIN_EVERY:
            self._line()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._line(final=True)

    def _line(self, final: bool = False) -> None:
        self._printed = time.monotonic()
        elapsed = max(self._printed - self._started, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        state = "done" if final else "…"
        detail = f" ({self.detail})" if self.detail else ""
        print(f"{self.description}: {self.done}{of} {self.unit} in {elapsed:.1f}s, "
              f"{self.done / elapsed:.0f}/s{detail} {state}", file=self.stream, flush=True)


@contextmanager
def progress(description: str, total: int | None = None, *, unit: str = "rows",
             stream: TextIO | None = None) -> Iterator[Progress]:
    """A Progress reporting to ``stream`` (stderr), closed when the block ends."""
    bar = Progress(description, total, stream or sys.stderr, unit)
    try:
        yield bar
    finally:
        bar.close()
