"""`mailpipe up` says what really happens to messages under its configuration."""

from __future__ import annotations

from services.up import transport_summary
from shared.settings import load_settings


def _summary(**settings) -> str:
    return transport_summary(load_settings(database_url="postgresql+psycopg://x/y",
                                           _env_file=None, **settings))


def test_ses_transport_says_messages_go_to_ses_not_the_outbox():
    line = _summary(transport="ses", aws_region="ap-northeast-2")
    assert "Amazon SES in ap-northeast-2" in line and "written" not in line


def test_smtp_transport_names_the_server_without_its_password():
    line = _summary(transport="smtp", smtp_url="smtp://user:s3cret@relay.example.com:587")
    assert "smtp://relay.example.com:587" in line and "s3cret" not in line


def test_file_transport_says_messages_are_written_not_sent(tmp_path):
    line = _summary(transport="file", file_dir=tmp_path / "outbox")
    assert f"written to {tmp_path / 'outbox'}, not sent" in line
