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

    database_url: str = Field(
        description="PostgreSQL URL (`postgresql://user:pass@host/db`). `mailpipe up` starts "
        "its own PostgreSQL when it is unset.")
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL. `mailpipe up` starts its own Redis when it is unset.")
    transport: Literal["ses", "smtp", "file"] = Field(
        "ses",
        description="`ses` sends through Amazon SES, `smtp` through `MAILPIPE_SMTP_URL`; `file` "
        "writes one `.eml` per message into `MAILPIPE_FILE_DIR` and sends nothing.")
    send_rate: float | Literal["auto"] = Field(
        14.0,
        description="Recipients per second for the whole fleet (the account's SES limit as the "
        "SES console shows it: the fleet uses 98.5% of it), or `auto`: read from SES "
        "GetAccount.")
    ses_bulk: bool = Field(
        True,
        description="Messages sharing a content go out through SES SendBulkEmail, up to 50 a "
        "call (needs `ses:SendBulkEmail`); `false` sends each with SendEmail.")
    ses_client: Literal["direct", "boto3"] = Field(
        "direct",
        description="How SendEmail and SendBulkEmail reach SES: `direct` (signed JSON over "
        "keep-alive HTTP, `shared/transports/ses_wire.py`: a quarter of boto3's CPU) or "
        "`boto3` (the client's own calls). Everything else goes through boto3, and so do "
        "these when a proxy is configured for the SES endpoint.")
    ses_configuration_set: str | None = Field(
        "mailpipe",
        description="The SES configuration set every SendEmail and SendBulkEmail names (a key "
        "may name its own: `mailpipe keys change --configuration-set`): its SNS event "
        "destination brings deliveries, bounces and complaints back to `/v1/events/results`. "
        "`mailpipe ses setup` makes it. A sender names it only once SES says it exists (SES "
        "refuses a send naming a missing set): an install that never ran setup sends as "
        "before, naming none. Empty: none is named, and events come only from an identity's "
        "default configuration set or its notifications.")
    ses_suppression_import: float = Field(
        600.0, ge=0,
        description="Seconds between the scheduler's reads of SES's account-level suppression "
        "list (ListSuppressedDestinations, from where the last read stopped; needs "
        "`ses:ListSuppressedDestinations`): each address on it is suppressed for every key, "
        "so mailpipe does not try what SES would bounce. 0: not read.")
    quota_refresh: float = Field(
        60.0, gt=0,
        description="Seconds between the scheduler's reads of SES GetAccount (with the `ses` "
        "transport): the quota with `MAILPIPE_SEND_RATE=auto`, and the account's standing "
        "(sending disabled or under review pauses the fleet).")
    public_url: str = Field(
        "http://localhost:8000",
        description="Base URL of tracking, click and unsubscribe links (and of the console's "
        "OIDC callback): where recipients' mail clients reach the api.")
    secret_key: str | None = Field(
        None,
        description="HMAC key of tracking and unsubscribe tokens, and the key tenant SMTP "
        "passwords and webhook signing secrets are encrypted with. Unset: no tracking or "
        "unsubscribe links, tenant sends are refused and webhooks cannot be registered.")
    sns_topic_arns: str = Field(
        "",
        description="SNS topics whose notifications the events endpoint accepts (comma- or "
        "space-separated ARNs); empty accepts any topic with a valid signature.")
    sns_max_age: float = Field(
        86_400.0, gt=0,
        description="A signed SNS message older than this (seconds) is refused as a replay.")
    sns_raw_secret: str | None = Field(
        None,
        description="Raw message delivery carries no SNS signature: such deliveries are "
        "accepted only with this secret (`?token=` or the basic-auth password of the "
        "subscription URL), and refused when it is unset.")
    default_from: str | None = Field(
        None, description="From address when a request names none.")
    aws_region: str | None = Field(
        None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        description="The SES region (botocore itself reads only `AWS_DEFAULT_REGION` and "
        "profiles). Every other `AWS_*` variable (credentials, profiles, "
        "`AWS_ENDPOINT_URL_SESV2`, `AWS_CA_BUNDLE`) is boto3's, honoured as is.")
    file_dir: Path = Field(
        Path(".mailpipe/outbox"),
        description="Folder the `file` transport writes one `.eml` per message into.")

    smtp_url: str | None = Field(
        None,
        description="With `MAILPIPE_TRANSPORT=smtp`: `smtp://host:587` (STARTTLS required; add "
        "`?tls=optional` or `?tls=none` for a local relay) or `smtps://host:465`.")
    smtp_username: str | None = Field(
        None, description="SMTP AUTH user for `MAILPIPE_SMTP_URL` (no AUTH without a password).")
    smtp_password: SecretStr | None = Field(
        None, description="SMTP AUTH password for `MAILPIPE_SMTP_URL`.")
    smtp_ca_file: Path | None = Field(
        None,
        description="CA bundle for SMTP servers with private certificates (system CAs "
        "otherwise).")
    smtp_timeout: float = Field(
        30.0, gt=0, description="Seconds for connecting and for each SMTP reply.")
    smtp_helo_name: str | None = Field(
        None,
        description="The name senders give in EHLO (the host name otherwise; some servers "
        "refuse a container's bare host name).")
    smtp_cert_file: Path | None = Field(
        None,
        description="PEM certificate (chain) of `mailpipe smtp`, the SMTP submission server, "
        "for STARTTLS and implicit TLS; it refuses to start without one, since AUTH needs TLS.")
    smtp_key_file: Path | None = Field(
        None, description="PEM private key of `MAILPIPE_SMTP_CERT_FILE`.")
    smtp_max_size: int = Field(
        25 * 1024 * 1024, ge=1024,
        description="Largest message `mailpipe smtp` accepts, in bytes (announced in EHLO "
        "`SIZE`; beyond, 552).")
    smtp_hostname: str | None = Field(
        None,
        description="The name `mailpipe smtp` gives in its greeting and EHLO answer (the host "
        "name otherwise).")
    max_attachment_bytes: int = Field(
        25 * 1024 * 1024, ge=0, le=30 * 1024 * 1024,
        description="Decoded attachment bytes per request; beyond, 413 (SES takes 40 MB per "
        "message once encoded).")
    max_sync_wait: float = Field(
        30.0, gt=0, le=55,
        description="Longest a synchronous send (`?wait=`, fureweb `isSync`, Biz sends) holds "
        "a request, in seconds; below gunicorn's 60 s worker timeout.")
    biz_api_key: SecretStr | None = Field(
        None,
        description="The API key Biz E-mail API requests without an `x-api-key` header act as "
        "(Biz clients send none). Unset: those requests must carry `x-api-key`.")
    tenant_smtp_private: bool = Field(
        False,
        description="Let tenants' own SMTP servers (Biz tenant sends) be on private, loopback "
        "or link-local addresses; off, a request cannot make senders probe the internal "
        "network.")

    # Outbound webhooks (docs/webhooks.md).
    webhook_allow_http: bool = Field(
        False,
        description="Let API keys register `http://` webhook endpoints (events and their "
        "signatures then cross the network in clear); off, only `https://`.")
    webhook_private: bool = Field(
        False,
        description="Let webhook endpoints be on private, loopback or link-local addresses; "
        "off, the address a name resolves to is checked before every delivery and connected "
        "to, so an API key cannot make mailpipe post into the internal network.")
    webhook_timeout: float = Field(
        15.0, gt=0, le=60,
        description="Seconds an endpoint has to answer a delivery (connect, send, status "
        "line); a 2xx later is a failure, retried.")
    webhook_concurrency: int = Field(
        4, ge=1, le=64,
        description="Deliveries in flight to one endpoint at once, across every `mailpipe "
        "webhooks` process.")
    webhook_lease: float = Field(
        60.0, gt=0,
        description="Seconds a webhooks worker holds the deliveries it claimed; a worker that "
        "dies leaves them due again after this (delivered again: at least once).")

    queue_timeout: float = Field(
        300.0, gt=0,
        description="A queued row not claimed by a sender within this many seconds is enqueued "
        "again (Redis may have lost it), then after twice as long each time it is still "
        "unclaimed (a long backlog), at most an hour.")
    send_lease: float = Field(
        120.0, gt=0,
        description="Seconds a claim outlives its sender: a live sender renews the leases of "
        "the rows it holds; a row whose sender died or hung this long becomes `unknown`.")
    account_retry: float = Field(
        10.0, gt=0,
        description="When SES refuses the account (credentials, signature, clock, permissions, "
        "sending paused), the fleet pauses and the scheduler asks SES (GetAccount) again "
        "after this many seconds, doubling up to 5 minutes; sending resumes by itself once "
        "it answers.")
    guard_window: int = Field(
        10_000, ge=100,
        description="The reputation guard's sliding window: the last N sends of a key, of its "
        "campaign or transactional mail, or of a topic, whose hard bounces and complaints it "
        "counts (a decaying window: each send weighs the older ones down by 1/N). The last "
        "24 hours are watched as well.")
    guard_min_sends: int = Field(
        1_000, ge=1,
        description="Sends a window must hold before the reputation guard warns or pauses on "
        "it: below, a few bounces are chance, not a rate.")
    guard_bounce_warn: float = Field(
        0.02, gt=0, le=1,
        description="Hard-bounce rate at which the reputation guard warns (log, metric, "
        "dashboard); SES reviews an account at 5%. A key can set its own.")
    guard_bounce_pause: float = Field(
        0.04, gt=0, le=1,
        description="Hard-bounce rate at which the reputation guard pauses a key, its "
        "campaigns or a topic (below SES's 5% review level). A key can set its own.")
    guard_complaint_warn: float = Field(
        0.0005, gt=0, le=1,
        description="Complaint rate at which the reputation guard warns; SES reviews an "
        "account at 0.1%. A key can set its own.")
    guard_complaint_pause: float = Field(
        0.0008, gt=0, le=1,
        description="Complaint rate at which the reputation guard pauses a key, its campaigns "
        "or a topic (below SES's 0.1% review level). A key can set its own.")
    guard_account_review: bool = Field(
        True,
        description="Pause the whole fleet while SES GetAccount reports the account under "
        "review (an enforcement status other than HEALTHY: PROBATION, SHUTDOWN), and resume "
        "it when HEALTHY again; off, only sending disabled pauses it.")
    max_attempts: int = Field(
        8, ge=1, description="Attempts (claims) after which a transient failure ends `failed`.")
    dispatch_batch: int = Field(
        1000, ge=1, description="Due rows the scheduler moves to `queued` per statement.")
    send_batch: int = Field(
        20, ge=1, le=1000,
        description="Message ids per sender queue message, on average (each between 0.5x and "
        "1.5x, so sender threads do not finish their batches in step).")
    max_recipients_per_request: int = Field(
        10_000, ge=1,
        description="Recipients in one request; beyond, 413 `too_many_recipients`.")
    intake_rate: float = Field(
        50.0, gt=0,
        description="API requests per second per key (native, Biz and fureweb alike); beyond, "
        "429 with `Retry-After`.")
    intake_burst: int = Field(
        100, ge=1, description="Requests a key may make at once before `MAILPIPE_INTAKE_RATE` "
        "applies.")
    auth_failure_rate: float = Field(
        1.0, gt=0,
        description="Failed authentications (unknown or revoked keys) per second per client "
        "address; past it, 429 before any key lookup.")
    auth_failure_burst: int = Field(
        20, ge=1, description="Failed authentications a client address may make at once "
        "before `MAILPIPE_AUTH_FAILURE_RATE` applies.")
    sync_waits_per_process: int = Field(
        4, ge=0,
        description="Synchronous sends (`?wait=`, fureweb `isSync`) one API process holds at "
        "once (half its 8 threads); beyond, the request answers 202 at once, as without a "
        "wait.")
    sync_waits_per_key: int = Field(
        2, ge=0,
        description="Synchronous sends one key holds at once in one API process; beyond, 202 "
        "at once.")
    trusted_proxies: str = Field(
        "",
        description="Proxies (comma- or space-separated addresses or CIDR networks) whose "
        "`X-Forwarded-For` is believed (tracking hits' address, failed-authentication "
        "limits); empty: the client is the TCP peer. docker-compose.yml sets it for its "
        "nginx.")
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024,
        description="Largest JSON request body (a Biz form's fields and files: this plus "
        "`MAILPIPE_MAX_ATTACHMENT_BYTES`); beyond, 413 `body_too_large`.")
    max_upload_bytes: int = Field(
        1024 * 1024 * 1024, ge=1024,
        description="Largest campaign recipient CSV upload (streamed, never held in memory).")
    expand_batch: int = Field(
        20_000, ge=1,
        description="Campaign recipients the scheduler turns into message rows per "
        "transaction.")
    campaign_send_batch: int = Field(
        500, ge=1, le=1000,
        description="Message ids per sender queue message for a campaign's rows (sizes vary as "
        "for `MAILPIPE_SEND_BATCH`, in multiples of 50 from 100 up): they share a content, so "
        "SES SendBulkEmail carries 50 of them per call, and a queue message's own costs "
        "(claims, outcome batch, queue round trips) are shared by all of them. Without bulk "
        "sends (`MAILPIPE_SES_BULK=false`, or the `smtp` and `file` transports) campaign rows "
        "go `MAILPIPE_SEND_BATCH` at a time: one thread sending 500 one by one would leave "
        "the others idle on a small campaign.")
    campaign_window: int = Field(
        20_000, ge=0,
        description="Unsent (created or queued) rows one campaign may have at once; expansion "
        "tops the campaign up as it is sent, so pause, resume and cancel touch at most this "
        "many rows and a long list never floods the send queue. 0: no window (the whole list "
        "is expanded as soon as it is due).")

    # Prometheus metrics (docs/operations.md).
    metrics_allow: str = Field(
        "127.0.0.0/8 ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7",
        description="Who may read the api's `/metrics`: addresses or CIDR networks, comma- or "
        "space-separated (loopback and private networks by default); others get 403.")
    metrics_host: str = Field(
        "0.0.0.0",
        description="The address the scheduler, sender and recorder serve `/metrics` on "
        "(`mailpipe up` uses 127.0.0.1 and free ports).")
    metrics_port_scheduler: int = Field(
        9101, ge=0, le=65535, description="Port the scheduler serves `/metrics` on (0: none).")
    metrics_port_sender: int = Field(
        9102, ge=0, le=65535,
        description="Port each sender serves `/metrics` on, its child processes summed "
        "(0: none).")
    metrics_port_recorder: int = Field(
        9103, ge=0, le=65535, description="Port the recorder serves `/metrics` on (0: none).")
    metrics_port_smtp: int = Field(
        9104, ge=0, le=65535, description="Port `mailpipe smtp` serves `/metrics` on (0: none).")
    metrics_port_webhooks: int = Field(
        9106, ge=0, le=65535,
        description="Port `mailpipe webhooks` serves `/metrics` on (0: none).")
    metrics_dir: Path | None = Field(
        None,
        description="Where the forking kinds (api, sender, recorder) keep prometheus_client's "
        "multiprocess files: a fresh folder per run below it, removed on a clean stop "
        "(default: the temp folder).")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Log level of every process (any case).")

    # Retention (services/scheduler/retention.py). A per-kind setting of 0 keeps that kind.
    retention_days: int = Field(
        90, ge=0,
        description="Days after which finished messages' data is pruned; 0 keeps everything "
        "(and is what the per-kind settings follow when unset).")
    retention_events_days: int | None = Field(
        None, ge=0,
        description="Days events are kept (then counted on in `event_tallies`); unset: "
        "`MAILPIPE_RETENTION_DAYS`.")
    retention_bodies_days: int | None = Field(
        None, ge=0,
        description="Days contents (subject, HTML, text, headers, reply-to), their attachments "
        "and finished campaigns' recipient lists are kept; unset: `MAILPIPE_RETENTION_DAYS`.")
    retention_orphan_days: int | None = Field(
        None, ge=0,
        description="Days an event naming no known message waits for it; unset: 7 (or "
        "`MAILPIPE_RETENTION_DAYS` when smaller).")
    retention_idempotency_days: int | None = Field(
        None, ge=0,
        description="Days an `Idempotency-Key`'s answer is kept (it is replayed for 24 hours "
        "only); unset: 1 (0 when `MAILPIPE_RETENTION_DAYS` is 0).")
    retention_webhooks_days: int | None = Field(
        None, ge=0,
        description="Days outbound webhook events, with their deliveries, are kept (what "
        "`POST /v1/webhooks/{id}/replay` can reach back to). An event still to be delivered "
        "to an enabled endpoint stays; a disabled endpoint's undelivered events go with them. "
        "Unset: 30 (or `MAILPIPE_RETENTION_DAYS` when smaller): well past the three days of "
        "retries and the five after which a failing endpoint is disabled, so a receiver "
        "that was down has weeks to be fixed and replayed.")
    retention_batch: int = Field(
        1000, ge=1, le=100_000,
        description="Rows per pruning statement (contents: a tenth of it).")
    retention_interval: float = Field(
        60.0, gt=0,
        description="Seconds between the scheduler's pruning runs (each at most 5 s of steps).")

    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text` (one readable line per record) or `json` (one object per line).")
    # Error reporting: SENTRY_DSN and SENTRY_ENVIRONMENT as the SDK names them.
    sentry_dsn: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SENTRY_DSN", "MAILPIPE_SENTRY_DSN"),
        description="Report errors to Sentry (or a compatible service); off when unset.")
    sentry_environment: str | None = Field(
        None, validation_alias=AliasChoices("SENTRY_ENVIRONMENT", "MAILPIPE_SENTRY_ENVIRONMENT"),
        description="The Sentry environment name (`production`, `staging`, …).")

    broker_heartbeat_timeout_ms: int = Field(
        15_000, ge=1000,
        description="dramatiq Redis broker: a worker silent this long (ms) is presumed dead and "
        "its in-flight messages are redelivered at the next maintenance.")
    broker_maintenance_interval_ms: int = Field(
        1000, ge=100,
        description="How often (ms) each broker requeues the messages of dead workers.")

    # Web console (/ui).
    oidc_issuer: str = Field(
        "https://accounts.google.com",
        description="The console's OpenID Connect issuer, found by discovery "
        "(`/.well-known/openid-configuration`); Google by default.")
    oidc_client_id: str | None = Field(
        None, description="The console's OIDC client; unset: only local accounts can sign in.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="The secret of the console's OIDC client.")
    oidc_redirect_url: str | None = Field(
        None,
        description="Where the issuer sends the browser back (register it with the issuer); "
        "default `MAILPIPE_PUBLIC_URL` + `/ui/auth/callback`.")
    console_allow: str = Field(
        "",
        description="Who may sign in by OIDC: emails and `@domain` entries, comma-separated. "
        "Empty: nobody (local accounts still can).")
    console_default_role: Literal["admin", "editor", "viewer"] = Field(
        "viewer", description="The role an allowed OIDC account gets on its first sign-in.")
    console_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="How long a console session lasts (hours).")

    @property
    def bulk_sends(self) -> bool:
        """Messages sharing a content may go out together (SES SendBulkEmail)."""
        return self.transport == "ses" and self.ses_bulk

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("smtp_cert_file", "smtp_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # A compose file passes an unset variable as "" (Path("") would be ".").
        return None if value == "" else value

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
