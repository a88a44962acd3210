"""Settings are the one reader of the environment: the log level of every process, and
what ``mailpipe up`` takes from the operator before it starts its own servers."""

from __future__ import annotations

import pytest

from services.up import DEV_FROM, _local_values
from shared.errors import ConfigError
from shared.settings import LocalSettings, load_settings

URL = "postgresql://u@127.0.0.1:5432/mailpipe"


def test_log_level_is_read_in_any_case(monkeypatch):
    monkeypatch.setenv("MAILPIPE_LOG_LEVEL", "debug")
    assert load_settings(database_url=URL, _env_file=None).log_level == "DEBUG"


def test_unknown_log_level_names_the_variable(monkeypatch):
    monkeypatch.setenv("MAILPIPE_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError, match="MAILPIPE_LOG_LEVEL"):
        load_settings(database_url=URL, _env_file=None)


def test_up_starts_its_own_servers_when_no_urls_are_set(monkeypatch):
    monkeypatch.delenv("MAILPIPE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MAILPIPE_REDIS_URL", raising=False)
    local = LocalSettings(_env_file=None)
    assert local.database_url is None and local.redis_url is None


def test_up_keeps_the_operators_choices_and_its_own_defaults_for_the_rest(monkeypatch,
                                                                         tmp_path):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", URL)
    monkeypatch.setenv("MAILPIPE_TRANSPORT", "smtp")
    monkeypatch.delenv("MAILPIPE_DEFAULT_FROM", raising=False)
    local = LocalSettings(_env_file=None)
    assert local.database_url == "postgresql+psycopg://u@127.0.0.1:5432/mailpipe"
    values = _local_values(local, tmp_path, 8000)
    assert values["transport"] == "smtp"
    assert values["default_from"] == DEV_FROM
