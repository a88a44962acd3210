"""Settings, read once from the environment (and ``.env`` when present).

``load_settings()`` is called by each process's entry point and the result is
passed down; nothing reads the environment anywhere else (``mailpipe up``
reads it as ``LocalSettings``, logging takes ``Settings.log_level``).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError

PREFIX = "MAILPIPE_"


class Settings(BaseSettings):
    """Every knob mailpipe has. Immutable once loaded."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    database_url: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    transport: Literal["ses", "smtp", "file"] = "ses"
    #: Recipients per second for the whole fleet, or "auto" (read from SES).
    send_rate: float | Literal["auto"] = 14.0
    #: Messages sharing a content go out through SES SendBulkEmail, up to 50 a
    #: call (needs ses:SendBulkEmail); false sends each with SendEmail.
    ses_bulk: bool = True
    #: How SendEmail and SendBulkEmail reach SES: ``direct`` (signed JSON over
    #: keep-alive HTTP, shared.transports.ses_wire: a quarter of boto3's CPU)
    #: or ``boto3`` (the client's own calls). Everything else goes through boto3.
    ses_client: Literal["direct", "boto3"] = "direct"
    #: With send_rate=auto: how often (s) the scheduler reads SES GetAccount.
    quota_refresh: float = Field(60.0, gt=0)
    public_url: str = "http://localhost:8000"
    secret_key: str | None = None
    #: SNS topics whose notifications the events endpoint accepts (comma- or
    #: space-separated ARNs); empty accepts any topic with a valid signature.
    sns_topic_arns: str = ""
    #: A signed SNS message older than this (seconds) is refused as a replay.
    sns_max_age: float = Field(86_400.0, gt=0)
    #: Raw message delivery carries no SNS signature: such deliveries are
    #: accepted only with this secret (``?token=`` or the basic-auth password
    #: of the subscription URL), and refused when it is unset.
    sns_raw_secret: str | None = None
    default_from: str | None = None
    #: AWS_REGION (botocore itself reads only AWS_DEFAULT_REGION and profiles).
    aws_region: str | None = Field(
        None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    #: Folder the ``file`` transport writes one .eml per message into.
    file_dir: Path = Path(".mailpipe/outbox")

    #: MAILPIPE_TRANSPORT=smtp: smtp://host:587 (STARTTLS required; add
    #: ?tls=optional or ?tls=none for a local relay) or smtps://host:465.
    smtp_url: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    #: CA bundle for SMTP servers with private certificates (system CAs otherwise).
    smtp_ca_file: Path | None = None
    #: Seconds for connecting and for each SMTP reply.
    smtp_timeout: float = Field(30.0, gt=0)
    #: The name senders give in EHLO (the host name otherwise; some servers
    #: refuse a container's bare host name).
    smtp_helo_name: str | None = None
    #: Decoded attachment bytes per request (SES takes 40 MB per encoded message).
    max_attachment_bytes: int = Field(25 * 1024 * 1024, ge=0, le=30 * 1024 * 1024)
    #: Longest a synchronous send (``?wait=``, fureweb ``isSync``) holds a request;
    #: below gunicorn's 60 s worker timeout.
    max_sync_wait: float = Field(30.0, gt=0, le=55)
    #: The API key Biz E-mail API requests without an x-api-key header act as
    #: (Biz clients send none). Unset: those requests must carry x-api-key.
    biz_api_key: SecretStr | None = None
    #: Let tenants' own SMTP servers (Biz tenant sends) be on private, loopback
    #: or link-local addresses; off, a request cannot make senders probe the
    #: internal network.
    tenant_smtp_private: bool = False

    #: A queued row not claimed by a sender within this many seconds is
    #: enqueued again (Redis may have lost it), then after twice as long each
    #: time it is still unclaimed (a long backlog), at most an hour.
    queue_timeout: float = Field(300.0, gt=0)
    #: How long a sender may hold a claim before the row becomes ``unknown``.
    send_lease: float = Field(120.0, gt=0)
    #: Attempts (claims) after which a transient failure ends ``failed``.
    max_attempts: int = Field(8, ge=1)
    #: Rows the scheduler moves to ``queued`` per statement.
    dispatch_batch: int = Field(1000, ge=1)
    #: Message ids per sender queue message, on average (sizes vary from half to 1.5x).
    send_batch: int = Field(20, ge=1, le=1000)
    max_recipients_per_request: int = Field(10_000, ge=1)
    #: API requests per second per key (intake budget), and the burst allowed.
    intake_rate: float = Field(50.0, gt=0)
    intake_burst: int = Field(100, ge=1)
    #: Failed authentications (unknown or revoked keys) per second per client
    #: address, and the burst allowed; past it, 429 before any key lookup.
    auth_failure_rate: float = Field(1.0, gt=0)
    auth_failure_burst: int = Field(20, ge=1)
    #: Synchronous sends (``?wait=``, fureweb ``isSync``) one API process holds
    #: at once (default: half its 8 threads), and one key holds at once in a
    #: process; beyond either, the request answers 202 at once, as without a wait.
    sync_waits_per_process: int = Field(4, ge=0)
    sync_waits_per_key: int = Field(2, ge=0)
    #: Proxies (comma- or space-separated addresses or CIDR networks) whose
    #: X-Forwarded-For is believed; empty: the client is the TCP peer.
    trusted_proxies: str = ""
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    #: A campaign's recipient CSV upload (streamed, never held in memory).
    max_upload_bytes: int = Field(1024 * 1024 * 1024, ge=1024)
    #: Campaign recipients the scheduler turns into message rows per transaction.
    expand_batch: int = Field(20_000, ge=1)
    #: Message ids per sender queue message for a campaign's rows (sizes vary
    #: as for ``send_batch``, in multiples of 50 from 100 up): they share a
    #: content, so SES SendBulkEmail carries 50 of them per call, and a queue
    #: message's own costs (claims, outcome batch, queue round trips) are
    #: shared by all of them. Without bulk sends (``bulk_sends``) campaign
    #: rows go ``send_batch`` at a time: one thread sending 500 one by one
    #: would leave the others idle on a small campaign.
    campaign_send_batch: int = Field(500, ge=1, le=1000)
    #: Unsent (created or queued) rows one campaign may have at once; expansion
    #: tops the campaign up as it is sent, so pause, resume and cancel touch at
    #: most this many rows and a long list never floods the send queue.
    #: 0: no window (the whole list is expanded as soon as it is due).
    campaign_window: int = Field(20_000, ge=0)

    #: Prometheus metrics (README, Operations): who may read the api's /metrics
    #: (CIDRs, comma- or space-separated), the address and the port each other
    #: process kind serves /metrics on (0: none; ``mailpipe up`` uses 127.0.0.1
    #: and free ports), and where forking kinds keep their multiprocess files (a
    #: fresh folder per run below it, removed on a clean stop; default: the temp folder).
    metrics_allow: str = ("127.0.0.0/8 ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 "
                          "fc00::/7")
    metrics_host: str = "0.0.0.0"
    metrics_port_scheduler: int = Field(9101, ge=0, le=65535)
    metrics_port_sender: int = Field(9102, ge=0, le=65535)
    metrics_port_recorder: int = Field(9103, ge=0, le=65535)
    metrics_dir: Path | None = None

    #: Log level of every process (any case).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    #: Retention (services/scheduler/retention.py): days after which finished
    #: messages' data is pruned; 0 keeps everything. Per kind, unset follows it
    #: (orphan events: 7 days, idempotency keys: 1 day, unless it is 0).
    #: Bodies covers contents' parts, their attachments and campaign recipient lists.
    retention_days: int = Field(90, ge=0)
    retention_events_days: int | None = Field(None, ge=0)
    retention_bodies_days: int | None = Field(None, ge=0)
    retention_orphan_days: int | None = Field(None, ge=0)
    retention_idempotency_days: int | None = Field(None, ge=0)
    #: Rows per pruning statement, and seconds between the scheduler's runs.
    retention_batch: int = Field(1000, ge=1, le=100_000)
    retention_interval: float = Field(60.0, gt=0)

    #: ``text`` (one readable line per record) or ``json`` (one object per line).
    log_format: Literal["text", "json"] = "text"
    #: Error reporting; SENTRY_DSN and SENTRY_ENVIRONMENT as the SDK names them.
    sentry_dsn: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SENTRY_DSN", "MAILPIPE_SENTRY_DSN"))
    sentry_environment: str | None = Field(
        None, validation_alias=AliasChoices("SENTRY_ENVIRONMENT", "MAILPIPE_SENTRY_ENVIRONMENT"))

    #: dramatiq Redis broker: a worker silent this long (ms) is presumed dead
    #: and its in-flight messages are redelivered at the next maintenance.
    broker_heartbeat_timeout_ms: int = Field(15_000, ge=1000)
    #: How often (ms) each broker requeues the messages of dead workers.
    broker_maintenance_interval_ms: int = Field(1000, ge=100)

    #: Web console (``/ui``). OpenID Connect issuer found by discovery
    #: (``/.well-known/openid-configuration``); Google by default.
    oidc_issuer: str = "https://accounts.google.com"
    #: The console's OIDC client; unset: only local accounts can sign in.
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    #: Where the issuer sends the browser back; default PUBLIC_URL/ui/auth/callback.
    oidc_redirect_url: str | None = None
    #: Who may sign in by OIDC: emails and ``@domain`` entries, comma-separated.
    #: Empty: nobody (local accounts still can).
    console_allow: str = ""
    #: The role an allowed OIDC account gets on its first sign-in.
    console_default_role: Literal["admin", "editor", "viewer"] = "viewer"
    #: How long a console session lasts (hours).
    console_session_hours: float = Field(12.0, gt=0, le=24 * 30)

    @property
    def bulk_sends(self) -> bool:
        """Messages sharing a content may go out together (SES SendBulkEmail)."""
        return self.transport == "ses" and self.ses_bulk

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("send_rate")
    @classmethod
    def _positive_rate(cls, value: float | str) -> float | str:
        if value != "auto" and float(value) <= 0:
            raise ValueError("must be a positive number of recipients per second, or 'auto'")
        return value

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.replace(",", " ").split():
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is None:  # LocalSettings: none configured (Settings' type refuses None)
            return value
        if not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        return value


class LocalSettings(Settings):
    """What ``mailpipe up`` reads: the same variables, where an unset database or
    Redis URL means "start one here" (``model_fields_set`` tells which variables
    the operator set; up gives the others its local defaults)."""

    database_url: str | None = None  # type: ignore[assignment]
    redis_url: str | None = None  # type: ignore[assignment]


S = TypeVar("S", bound=Settings)


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise ConfigError naming the bad variable."""
    return _load(Settings, overrides)


def load_local_settings() -> LocalSettings:
    """``mailpipe up``'s settings (see LocalSettings); ConfigError naming a bad variable."""
    return _load(LocalSettings, {})


def _load(cls: type[S], overrides: dict[str, object]) -> S:
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = PREFIX + str(err["loc"][0]).upper() if err["loc"] else PREFIX
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
