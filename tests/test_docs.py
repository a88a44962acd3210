"""The README stays short and the reference in docs/ stays true to the code.

The configuration table is generated from the Settings class, so a setting
added without a description, or without regenerating the table, fails here;
the site is built with ``mkdocs build --strict``, which fails on a broken link
or anchor and on a page left out of the navigation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify
from pydantic import Field

from scripts.settings_doc import UndocumentedSetting, env_names, main, render_table, splice
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"

README_MAX_LINES = 250
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def test_configuration_table_is_the_one_generated_from_settings() -> None:
    committed = CONFIGURATION.read_text(encoding="utf-8")
    assert splice(committed, render_table()) == committed, (
        "docs/configuration.md is out of date: run python -m scripts.settings_doc")


def test_every_setting_is_in_the_configuration_table() -> None:
    table = CONFIGURATION.read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(Settings.model_fields)
    for (name, field), row in zip(Settings.model_fields.items(), rows, strict=True):
        assert row.startswith(f"| `{env_names(name, field)[0]}`"), (name, row)


def test_a_setting_without_a_description_cannot_be_documented() -> None:
    class WithANewKnob(Settings):
        new_knob: int = Field(3, ge=1)

    with pytest.raises(UndocumentedSetting, match="new_knob"):
        render_table(WithANewKnob)


def test_the_generator_rewrites_a_stale_table_and_check_reports_it(tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    current = CONFIGURATION.read_text(encoding="utf-8")
    stale = "".join(line for line in current.splitlines(keepends=True)
                    if not line.startswith("| `MAILPIPE_SEND_RATE` |"))  # a row left out
    assert stale != current
    page.write_text(stale, encoding="utf-8")
    assert main(["--check", str(page)]) == 1
    assert main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == CONFIGURATION.read_text(encoding="utf-8")
    assert main(["--check", str(page)]) == 0


def test_readme_reads_in_five_minutes() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


@pytest.mark.parametrize(
    "page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link names a file that exists, and an anchor its page has."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target}: no such heading in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site"), "--config-file", str(ROOT / "mkdocs.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


def _anchors(page: Path) -> set[str]:
    """The ids MkDocs gives a page's headings (Python-Markdown's toc slugs)."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slugify(_plain(heading), "-") for heading in _HEADING.findall(text)}


def _plain(heading: str) -> str:
    return re.sub(r"[`*_]", "", heading)
