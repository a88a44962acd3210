"""Real SMTP clients the tests submit with: nodemailer (from the npm registry) and Jakarta Mail
(Debian's ``libjakarta-mail-java``, a small program compiled here), as the apps that switch
to mailpipe send.

Both are installed on first use into the project's ``.cache`` (scripts/test does it ahead,
with the Debian packages): nodemailer with ``npm ci`` from this folder's lock, the Java
program compiled once per version of its source. When that cannot be done,
``ClientUnavailable`` says why, and the tests fail with it. ``python -m
tests.support.smtp_clients`` installs both and says where.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE.parents[2] / ".cache"
NODE_PREFIX = CACHE / "node"
JAVA_JARS = (Path("/usr/share/java/jakarta-mail.jar"),
             Path("/usr/share/java/jakarta-activation.jar"))


class ClientUnavailable(RuntimeError):
    """Raised when a client cannot be installed or run here; the message says why."""


@dataclass(frozen=True)
class Submission:
    """One message as an app hands it to its mail library, and where to send it."""

    host: str
    port: int
    #: "starttls" (submission, 587) or "tls" (implicit, 465).
    mode: str
    cafile: Path
    user: str
    password: str
    sender: str
    to: list[str]
    subject: str
    text: str
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    #: (file, the name the message gives it)
    attachments: list[tuple[Path, str]] = field(default_factory=list)
    message_id: str | None = None
    #: MAIL FROM when it differs from the From header's address.
    envelope_from: str | None = None
    #: nodemailer only: declare this size in MAIL FROM (SIZE=).
    envelope_size: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What the client reported: the server's reply code and the command it answered."""

    ok: bool
    code: int | None
    command: str
    message: str
    #: The client's own error code (nodemailer's EAUTH, EENVELOPE, EMESSAGE …).
    error: str = ""


@contextmanager
def _locked(name: str):
    """One installer at a time (test processes may start side by side)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(command: list[str], what: str, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                **kwargs)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClientUnavailable(f"{what}: {exc}") from exc
    if result.returncode != 0:
        raise ClientUnavailable(f"{what} failed ({result.returncode}): "
                                f"{(result.stderr or result.stdout)[-2000:]}")
    return result


def npm_ci(lock_folder: Path, prefix: Path, package: str) -> Path:
    """``prefix``, holding ``node_modules/<package>`` at the version ``lock_folder``'s
    package.json pins: ``npm ci`` of that folder's package.json and package-lock.json into
    ``prefix`` when it is not there yet (one installer at a time), else nothing."""
    wanted = json.loads((lock_folder / "package.json").read_text())["dependencies"][package]
    installed = prefix / "node_modules" / package / "package.json"

    def ready() -> bool:
        return installed.is_file() and json.loads(installed.read_text())["version"] == wanted

    if ready():
        return prefix
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise ClientUnavailable(f"{package} needs {tool}, which is not installed "
                                    "(apt-get install nodejs npm; scripts/test does)")
    with _locked(f"npm-{package}"):
        if not ready():
            prefix.mkdir(parents=True, exist_ok=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copy(lock_folder / name, prefix / name)
            _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                 f"npm ci of {package} {wanted} from the npm registry into {prefix}", 300,
                 cwd=prefix)
        if not ready():
            raise ClientUnavailable(f"npm ci left no {package} {wanted} in {prefix}")
    return prefix


def install_nodemailer() -> Path:
    """The folder holding ``node_modules/nodemailer`` at the locked version (installed if not)."""
    return npm_ci(HERE, NODE_PREFIX, "nodemailer")


def compile_java() -> Path:
    """The folder holding the compiled ``Send`` program (compiled once per source)."""
    source = HERE / "Send.java"
    missing = [str(jar) for jar in JAVA_JARS if not jar.is_file()]
    if missing:
        raise ClientUnavailable(f"Jakarta Mail is not installed ({', '.join(missing)} missing: "
                                "apt-get install libjakarta-mail-java; scripts/test does)")
    if not (shutil.which("javac") and shutil.which("java")):
        raise ClientUnavailable("no javac/java to compile and run the Jakarta Mail client "
                                "(apt-get install default-jdk-headless; scripts/test does)")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    classes = CACHE / "java" / digest
    with _locked("java"):
        if not (classes / "Send.class").is_file():
            building = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE))
            _run(["javac", "-encoding", "UTF-8", "-cp", _classpath(), "-d", str(building),
                  str(source)], "javac of the Jakarta Mail client", 180)
            classes.parent.mkdir(parents=True, exist_ok=True)
            building.rename(classes)
    return classes


def _classpath(*more: Path) -> str:
    return os.pathsep.join(str(p) for p in (*more, *JAVA_JARS))


def send_with_nodemailer(job: Submission) -> Outcome:
    prefix = install_nodemailer()
    spec = {"host": job.host, "port": job.port, "mode": job.mode, "cafile": str(job.cafile),
            "user": job.user, "password": job.password, "from": job.sender, "to": job.to,
            "cc": job.cc, "bcc": job.bcc, "subject": job.subject, "text": job.text,
            "messageId": job.message_id, "envelopeFrom": job.envelope_from,
            "envelopeSize": job.envelope_size,
            "attachments": [{"path": str(p), "filename": n} for p, n in job.attachments]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as spec_file:
        json.dump(spec, spec_file, ensure_ascii=False)
        spec_file.flush()
        result = _run(["node", str(HERE / "send.mjs"), spec_file.name], "nodemailer", 60,
                      env={**os.environ, "NODEMAILER_PREFIX": str(prefix)})
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return Outcome(answer["ok"], answer.get("code"), answer.get("command") or "",
                   answer.get("message") or answer.get("response") or "",
                   answer.get("error") or "")


def _properties(values: dict[str, str]) -> str:
    """A java.util.Properties file (read as UTF-8) of ``values``."""
    def escape(text: str) -> str:
        return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=")
                .replace(":", "\\:"))
    return "".join(f"{escape(k)}={escape(v)}\n" for k, v in values.items())


def send_with_jakarta(job: Submission) -> Outcome:
    classes = compile_java()
    # Jakarta Mail 2.0 on Java 17 matches a certificate's DNS names only (its IP address
    # check needs a JDK-internal class): it connects by the name the certificate holds.
    host = "localhost" if job.host == "127.0.0.1" else job.host
    values = {"host": host, "port": str(job.port), "mode": job.mode,
              "cafile": str(job.cafile), "user": job.user, "password": job.password,
              "from": job.sender, "to": "|".join(job.to), "cc": "|".join(job.cc),
              "bcc": "|".join(job.bcc), "subject": job.subject, "text": job.text}
    if job.message_id:
        values["messageId"] = job.message_id
    if job.envelope_from:
        values["envelopeFrom"] = job.envelope_from
    for i, (path, name) in enumerate(job.attachments):
        values[f"attachment.{i}.path"], values[f"attachment.{i}.filename"] = str(path), name
    with tempfile.NamedTemporaryFile("w", suffix=".properties", encoding="utf-8") as spec_file:
        spec_file.write(_properties(values))
        spec_file.flush()
        result = _run(["java", "-cp", _classpath(classes), "Send", spec_file.name],
                      "the Jakarta Mail client", 60)
    answer = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return Outcome(answer["ok"] == "true", int(answer["code"]) if answer["code"] != "-1" else None,
                   answer["command"], answer["message"])


#: name -> how it sends a Submission
CLIENTS: dict[str, Callable[[Submission], Outcome]] = {
    "nodemailer": send_with_nodemailer,
    "jakarta": send_with_jakarta,
}
