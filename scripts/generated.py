"""Sections of the docs generated from the code, between two marker lines.

``docs/configuration.md``'s settings table (``scripts.settings_doc``) and
``docs/webhooks.md``'s event catalogue (``scripts.webhooks_doc``) are written
from what the code reads and writes, so the reference cannot drift from it;
tests fail when a committed section differs from what its generator writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def splice(document: str, section: str, begin: str, end: str) -> str:
    """The document with the text between the markers replaced by ``section``."""
    try:
        head, rest = document.split(begin + "\n", 1)
        _, tail = rest.split(end, 1)
    except ValueError:
        raise ValueError(f"the markers {begin!r} and {end!r} are not both there") from None
    return f"{head}{begin}\n{section}{end}{tail}"


def rewrite(path: Path, section: str, begin: str, end: str, *, check: bool,
            what: str, command: str) -> int:
    """Put ``section`` in ``path``; with ``check``, only say (exit status 1) that it is stale."""
    current = path.read_text(encoding="utf-8")
    wanted = splice(current, section, begin, end)
    if current == wanted:
        return 0
    if check:
        print(f"{path}: the {what} is out of date; run {command}", file=sys.stderr)
        return 1
    path.write_text(wanted, encoding="utf-8")
    print(f"{path}: {what} rewritten")
    return 0


def main(argv: list[str] | None, *, module: str, description: str, render: Callable[[], str],
         begin: str, end: str, path: Path, what: str) -> int:
    """A generator's command line: ``[--check] [path]`` (see ``rewrite``)."""
    command = f"python -m {module}"
    parser = argparse.ArgumentParser(prog=command, description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if the {what} is stale")
    parser.add_argument("path", nargs="?", type=Path, default=path)
    args = parser.parse_args(argv)
    return rewrite(args.path, render(), begin, end, check=args.check, what=what,
                   command=command)
