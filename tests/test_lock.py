"""The lock is what gets installed: every pin, every hash, both lock files agreeing,
and pyproject's ranges satisfied, so a change to either is caught before it ships."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from scripts.lockcheck import differences, locked

ROOT = Path(__file__).resolve().parent.parent
APP, TEST = ROOT / "requirements/app.txt", ROOT / "requirements/test.txt"


def project_requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def test_this_environment_is_exactly_the_test_lock():
    """What scripts/test installed (and CI runs on) is the lock: no version drifted,
    nothing missing, nothing unlocked."""
    assert differences(TEST) == []


@pytest.mark.parametrize("lock", [APP, TEST], ids=["app", "test"])
def test_every_locked_package_is_pinned_with_hashes(lock):
    entries = re.split(r"\n(?=\S)", lock.read_text())
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        assert re.match(r"^[A-Za-z0-9._-]+(\[[^\]]+\])?==\S+", entry), entry
        assert "--hash=sha256:" in entry, f"no hash: {entry.splitlines()[0]}"


def test_app_and_test_locks_name_the_same_versions():
    app, test = locked(APP), locked(TEST)
    assert app.keys() <= test.keys()
    assert {name: (app[name], test[name]) for name in app if app[name] != test[name]} == {}


@pytest.mark.parametrize(("lock", "extras"), [(APP, ()), (TEST, ("test",))], ids=["app", "test"])
def test_lock_satisfies_pyproject(lock, extras):
    """pyproject.toml changed without ./scripts/lock fails here, not on a user's machine."""
    pins = locked(lock)
    for requirement in project_requirements(*extras):
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{requirement} is not in {lock.name}: run ./scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock.name} has {name}=={pins[name]}, pyproject asks {requirement}: "
            "run ./scripts/lock")

