"""Test settings with a few values changed, validated like real ones."""

from __future__ import annotations

from shared.settings import Settings, load_settings


def changed(settings: Settings, **overrides) -> Settings:
    return load_settings(**{**settings.model_dump(), **overrides}, _env_file=None)
