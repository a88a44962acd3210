"""Audit the test lock (a superset of the app lock) for known vulnerabilities.

    python -m scripts.audit     (scripts/test runs it before the suite)

pip-audit checks every pinned version in requirements/test.txt against
PyPI's advisory data. A finding fails the run unless requirements/audit-ignore.txt
lists its id with a reason; each listed one is printed, so none is ignored
silently. Where the advisory data cannot be reached (a machine whose network
reaches only the package index), every package comes back "not audited": that
is said loudly and fails the run only with MAILPIPE_AUDIT_REQUIRED=1, since
it says nothing about the lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LOCK = Path("requirements/test.txt")
IGNORE = Path("requirements/audit-ignore.txt")


def ignored() -> dict[str, str]:
    """``{vulnerability id: reason}`` from the ignore file; a missing reason is an error."""
    entries = {}
    for line in IGNORE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            vuln, _, reason = line.strip().partition(" ")
            if not reason.strip():
                raise SystemExit(f"audit: {IGNORE}: {vuln} has no reason")
            entries[vuln] = reason.strip()
    return entries


def main() -> int:
    skip = ignored()
    for vuln, reason in skip.items():
        print(f"audit: ignoring {vuln}: {reason}", file=sys.stderr)
    command = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--disable-pip",
               "--require-hashes", "-r", str(LOCK), "--format", "json"]
    for vuln in skip:
        command += ["--ignore-vuln", vuln]
    run = subprocess.run(command, capture_output=True, text=True)
    try:
        packages = json.loads(run.stdout)["dependencies"]
    except (ValueError, KeyError):
        print(run.stdout + run.stderr, file=sys.stderr)
        print("audit: pip-audit gave no report", file=sys.stderr)
        return 1
    found = [(p["name"], p["version"], v["id"]) for p in packages for v in p.get("vulns", [])]
    audited = [p for p in packages if "skip_reason" not in p]
    for name, version, vuln in found:
        print(f"audit: {name} {version}: {vuln}", file=sys.stderr)
    if found:
        print(f"audit: {len(found)} known vulnerabilities in {LOCK}: upgrade "
              f"(./scripts/lock NAME) or list them in {IGNORE} with the reason",
              file=sys.stderr)
        return 1
    if not audited:
        print(f"audit: NOT AUDITED: the advisory data could not be reached for any of the "
              f"{len(packages)} locked packages ({packages[0]['skip_reason'] if packages else ''})",
              file=sys.stderr)
        return 1 if os.environ.get("MAILPIPE_AUDIT_REQUIRED") == "1" else 0
    print(f"audit: {len(audited)} packages audited, no known vulnerabilities "
          f"({len(packages) - len(audited)} not audited)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
