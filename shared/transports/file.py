"""The ``file`` transport: one .eml per message in a folder (local use, tests).

Messages hold addresses and content: the folder is its owner's only (0700)
and each file 0600, whatever the umask.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from shared.errors import Failure, TransportError
from shared.transports.base import Envelope, Pace, no_pace


class FileTransport:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, envelope: Envelope, pace: Pace = no_pace) -> str:
        pace()
        provider_id = f"file-{uuid.uuid4()}"
        target = self.folder / f"{provider_id}.eml"
        tmp = target.with_suffix(".tmp")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(envelope.raw)
            os.replace(tmp, target)  # readers never see half a message
        except OSError as exc:
            raise TransportError(f"cannot write {target}: {exc}", Failure.TRANSIENT) from exc
        return provider_id
