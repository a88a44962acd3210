"""Compare what is installed with a lock file (requirements/*.txt).

    python -m scripts.lockcheck requirements/test.txt           # differences; exit 1 if any
    python -m scripts.lockcheck --prune requirements/test.txt   # uninstall what is not locked

The lock is a compiled requirement file: ``name==version`` with an optional
environment marker (``; sys_platform == 'linux'``) and its hashes on
continuation lines. Entries whose marker does not hold here are not expected.
``tests/test_lock.py`` uses ``differences`` to prove that an install is the lock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

try:
    from packaging.markers import Marker
    from packaging.utils import canonicalize_name
except ImportError:  # only pip's copy on a bare app install
    from pip._vendor.packaging.markers import Marker
    from pip._vendor.packaging.utils import canonicalize_name

#: In every venv whether locked or not (pip is locked only as pip-audit's
#: dependency, in the test lock); mailpipe is the editable project itself.
TOOLING = {"pip", "mailpipe"}


def locked(lock: Path) -> dict[str, str]:
    """``{canonical name: version}`` of the lock's entries that apply here."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-") or "==" not in line:
            continue
        requirement, _, marker = line.rstrip("\\").partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, _, version = requirement.partition("==")
        pins[canonicalize_name(name.split("[")[0].strip())] = version.strip()
    return pins


def installed() -> dict[str, str]:
    """``{canonical name: version}`` of every distribution in this environment."""
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def differences(lock: Path) -> list[str]:
    """One line per package that is missing, extra or at another version."""
    want, have = locked(lock), installed()
    lines = [f"missing: {name}=={want[name]}" for name in sorted(want.keys() - have.keys())]
    lines += [f"not locked: {name}=={have[name]}"
              for name in sorted(have.keys() - want.keys() - TOOLING)]
    lines += [f"{name}: installed {have[name]}, locked {want[name]}"
              for name in sorted(want.keys() & have.keys()) if have[name] != want[name]]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--prune", action="store_true",
                        help="uninstall packages that the lock does not name")
    args = parser.parse_args()
    if args.prune:
        extra = sorted(installed().keys() - locked(args.lock).keys() - TOOLING)
        if extra:
            print(f"lockcheck: removing packages not in {args.lock}: {' '.join(extra)}",
                  file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes",
                            *extra], check=True)
    problems = differences(args.lock)
    for line in problems:
        print(f"lockcheck: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
