"""The ``file`` transport keeps what it writes to its owner: messages hold addresses and content."""

from __future__ import annotations

import os
import stat

from shared.transports.base import Envelope
from shared.transports.file import FileTransport


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outbox_files_are_0600_and_the_folder_0700_even_under_a_permissive_umask(tmp_path):
    folder = tmp_path / "outbox"
    old = os.umask(0o022)
    try:
        provider_id = FileTransport(folder).send(
            Envelope("a@example.com", ("b@example.com",), b"Subject: hi\r\n\r\nhello\r\n"))
    finally:
        os.umask(old)
    written = folder / f"{provider_id}.eml"
    assert written.read_bytes() == b"Subject: hi\r\n\r\nhello\r\n"
    assert _mode(written) == 0o600
    assert _mode(folder) == 0o700
    assert [p.name for p in folder.iterdir()] == [written.name]  # no .tmp left behind
