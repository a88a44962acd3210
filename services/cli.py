"""The `mailpipe` command: one subcommand per process, plus operator tools."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from shared.errors import ConfigError
from shared.states import MessageState as S


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailpipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    api = sub.add_parser("api", help="run the HTTP API (gunicorn + falcon)")
    api.add_argument("--bind", default="0.0.0.0:8000", help="HOST:PORT (default 0.0.0.0:8000)")
    api.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")

    sub.add_parser("scheduler", help="run the scheduler (dispatch, sweeps)")

    sender = sub.add_parser("sender", help="run sender workers (dramatiq)")
    sender.add_argument("--processes", type=int, default=2)
    sender.add_argument("--threads", type=int, default=8)

    sub.add_parser("recorder", help="run the outcome recorder (one per deployment)")
    webhooks = sub.add_parser(
        "webhooks", help="run webhook delivery workers (dramatiq, their own queue)")
    webhooks.add_argument("--processes", type=int, default=1)
    webhooks.add_argument("--threads", type=int, default=8)
    sub.add_parser("migrate", help="create or upgrade the database schema")

    requeue = sub.add_parser(
        "requeue", help="deliberately resend unknown (or failed) messages",
        description="Put messages back to queued so they are sent again. An `unknown` "
        "message may already have been delivered: requeueing it can send it twice.",
    )
    requeue.add_argument("--state", choices=[S.UNKNOWN, S.FAILED], required=True)
    requeue.add_argument("--topic", help="only this topicId")
    requeue.add_argument("--key-id", type=int, help="only messages of this API key id")
    requeue.add_argument("--older-than", type=_duration, metavar="D",
                         help="only rows unchanged for D (e.g. 30m, 2h, 1d)")

    prune = sub.add_parser("prune", help="run retention now (the scheduler also does, steadily)")
    prune.add_argument("--batch", type=int, help="rows per statement (MAILPIPE_RETENTION_BATCH)")

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True)
    _key_options(create)
    keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    change = keys_sub.add_parser(
        "change", help="change a key's name, domains or rates (what is not given stays)")
    change.add_argument("id", type=int)
    change.add_argument("--name")
    _key_options(change, changing=True)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    resume = keys_sub.add_parser(
        "resume", help="resume a key the reputation guard paused (all its pauses, or a topic's)")
    resume.add_argument("id", type=int)
    resume.add_argument("--topic", help="resume only this topic's pause")
    levels = keys_sub.add_parser(
        "levels", help="show or set a key's own reputation guard levels (rates, like 0.04)")
    levels.add_argument("id", type=int)
    for name in ("bounce-warn", "bounce-pause", "complaint-warn", "complaint-pause"):
        levels.add_argument(f"--{name}", type=float, default=None,
                            help=f"{name.replace('-', ' ')} rate instead of "
                            f"MAILPIPE_GUARD_{name.replace('-', '_').upper()}")
    levels.add_argument("--settings", action="store_true",
                        help="drop the key's own levels: the MAILPIPE_GUARD_* settings apply")

    from services.console.admins import add_parser as add_admins

    add_admins(sub)
    from services.smtp.command import add_parser as add_smtp

    add_smtp(sub)
    from services.ses import add_parser as add_ses

    add_ses(sub)

    up = sub.add_parser("up", help="run everything locally, PostgreSQL and Redis included")
    up.add_argument("--data-dir", default=".mailpipe", help="where local data lives")
    up.add_argument("--port", type=int, default=8000, help="API port")
    up.add_argument("--senders", type=int, default=1, help="sender processes")
    return parser


def _key_options(parser: argparse.ArgumentParser, changing: bool = False) -> None:
    """The settings of a key, as ``create`` and ``change`` take them (rules: shared.db.keys)."""
    parser.add_argument("--domain", action="append", default=None,
                        help="allowed sender domain (repeat); none means any")
    parser.add_argument("--rate", type=float, default=None,
                        help="cap this key's sends at N recipients/s (inside the fleet's rate)")
    parser.add_argument("--intake-rate", type=float, default=None,
                        help="API requests/s for this key instead of MAILPIPE_INTAKE_RATE")
    parser.add_argument("--configuration-set", default=None,
                        help="the SES configuration set this key's sends name instead of "
                        "MAILPIPE_SES_CONFIGURATION_SET")
    if changing:
        parser.add_argument("--any-domain", action="store_true",
                            help="allow every sender domain (drop the key's domains)")
        parser.add_argument("--fleet-rate", action="store_true",
                            help="no send-rate cap of its own")
        parser.add_argument("--fleet-intake-rate", action="store_true",
                            help="MAILPIPE_INTAKE_RATE, not a rate of its own")
        parser.add_argument("--fleet-configuration-set", action="store_true",
                            help="MAILPIPE_SES_CONFIGURATION_SET, not a set of its own")


def _duration(value: str) -> timedelta:
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: use a number and s, m, h or d, e.g. 2h")
    return timedelta(**{units[value[-1]]: int(value[:-1])})


def _keys(args, settings) -> int:
    from shared.db.audit import Actor
    from shared.db.engine import make_engine
    from shared.db.keys import create_key, list_keys, revoke_key
    from shared.errors import InvalidRequest

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            if args.keys_command == "create":
                key, plain = create_key(conn, args.name, args.domain or [], args.rate,
                                        intake_rate=args.intake_rate,
                                        configuration_set=args.configuration_set,
                                        actor=Actor.cli())
                print(f"id {key.id} {_key_line(key)}")
                print(plain)
                print("Store this key now: it is not shown again.", file=sys.stderr)
            elif args.keys_command == "list":
                from shared.db.guard import active_pauses

                paused = {p.api_key_id for p in active_pauses(conn)}
                for key in list_keys(conn):
                    state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else (
                        "paused (mailpipe keys resume)" if key.id in paused else "active")
                    domains = ",".join(key.allowed_domains) or "any"
                    rate = f"{key.max_send_rate:g}/s" if key.max_send_rate else "fleet"
                    intake = f"{key.intake_rate:g}/s" if key.intake_rate else "fleet"
                    used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                    print(f"{key.id}\t{key.name}\t{key.key_prefix}…\t{domains}\t{rate}\t"
                          f"{intake}\t{used}\t{state}")
            elif args.keys_command == "change":
                return _change_key(conn, args)
            elif args.keys_command == "resume":
                return _resume_key(conn, args)
            elif args.keys_command == "levels":
                return _key_levels(conn, args, settings)
            elif not revoke_key(conn, args.id, actor=Actor.cli()):
                print(f"no active key with id {args.id}", file=sys.stderr)
                return 1
    except InvalidRequest as exc:
        print(f"mailpipe keys: {exc.message}", file=sys.stderr)
        return 2
    return 0


def _key_levels(conn, args, settings) -> int:
    """``keys levels``: a key's reputation guard levels, set as given (shared.guard)."""
    from shared.db.audit import Actor
    from shared.guard import LEVEL_NAMES, Levels, change_key_levels

    wanted = {n: None for n in LEVEL_NAMES} if args.settings else {}
    wanted.update({n: getattr(args, n) for n in LEVEL_NAMES if getattr(args, n) is not None})
    levels = change_key_levels(conn, args.id, wanted, fleet=Levels.from_settings(settings),
                               actor=Actor.cli())
    if levels is None:
        print(f"no key with id {args.id}", file=sys.stderr)
        return 1
    print(" ".join(f"{n.replace('_', '-')} {getattr(levels, n):g}" for n in LEVEL_NAMES))
    return 0


def _resume_key(conn, args) -> int:
    """``keys resume``: lift the reputation guard's pauses of a key (shared.guard.resume)."""
    from shared.db.audit import Actor
    from shared.guard import describe, resume

    resumed = resume(conn, args.id, args.topic, actor=Actor.cli())
    if not resumed:
        where = f" on topic {args.topic!r}" if args.topic else ""
        print(f"key {args.id} has no pause in force{where}", file=sys.stderr)
        return 1
    for p in resumed:
        scope = describe(p.api_key_id, p.topic_id, "campaign" if p.campaigns_only else "all")
        print(f"resumed {scope} (paused {p.paused_at:%Y-%m-%d %H:%M:%S} for its {p.reason} "
              "rate)")
    return 0


def _key_line(key) -> str:
    domains = list(key.allowed_domains) or "any"
    return (f"name {key.name!r} domains {domains} rate {key.max_send_rate or 'fleet'} "
            f"intake {key.intake_rate or 'fleet'} "
            f"configuration set {key.ses_configuration_set or 'fleet'}")


def _change_key(conn, args) -> int:
    """``keys change``: the key's settings with those given replaced (rules and audit as the
    console's keys page: shared.db.keys.change_key)."""
    from dataclasses import replace

    from shared.db.audit import Actor
    from shared.db.keys import change_key, get_key

    key = get_key(conn, args.id)
    if key is None or key.revoked_at is not None:
        print(f"no active key with id {args.id}", file=sys.stderr)
        return 1
    wanted = key.settings
    if args.name is not None:
        wanted = replace(wanted, name=args.name)
    if args.any_domain or args.domain:
        wanted = replace(wanted, domains=() if args.any_domain else tuple(args.domain))
    if args.fleet_rate or args.rate is not None:
        wanted = replace(wanted, max_send_rate=None if args.fleet_rate else args.rate)
    if args.fleet_intake_rate or args.intake_rate is not None:
        wanted = replace(wanted, intake_rate=None if args.fleet_intake_rate
                         else args.intake_rate)
    if args.fleet_configuration_set or args.configuration_set is not None:
        wanted = replace(wanted, configuration_set=None if args.fleet_configuration_set
                         else args.configuration_set)
    changed = change_key(conn, args.id, wanted, actor=Actor.cli())
    if changed is None:
        print(f"no active key with id {args.id}", file=sys.stderr)
        return 1
    print(f"id {changed.id} {_key_line(changed)}")
    return 0


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "up":
        from services.up import main as up

        return up(data_dir=args.data_dir, port=args.port, senders=args.senders)

    from shared.settings import load_settings

    settings = load_settings()
    if args.command in ("api", "scheduler", "sender", "recorder", "webhooks", "smtp"):
        # Before anything imports prometheus_client: it picks its mode at import.
        from shared.metrics.setup import prepare

        prepare(args.command, settings.metrics_dir)
    if args.command == "api":
        from services.api.main import main as api

        return api(settings, args.bind, args.workers)
    if args.command == "scheduler":
        from services.scheduler.main import main as scheduler

        return scheduler(settings)
    if args.command == "sender":
        from services.sender.main import main as sender

        return sender(settings, args.processes, args.threads)
    if args.command == "recorder":
        from services.recorder.main import main as recorder

        return recorder(settings)
    if args.command == "webhooks":
        from services.webhooks.main import main as webhooks

        return webhooks(settings, args.processes, args.threads)
    if args.command == "smtp":
        from services.smtp.main import main as smtp

        return smtp(args, settings)
    if args.command in ("migrate", "requeue", "prune"):
        from services import maintenance

        if args.command == "migrate":
            return maintenance.migrate(settings)
        if args.command == "prune":
            return maintenance.prune(settings, batch=args.batch)
        return maintenance.requeue(settings, state=args.state, topic_id=args.topic,
                                   api_key_id=args.key_id, older_than=args.older_than)
    if hasattr(args, "run"):  # a command module's own (add_parser: set_defaults(run=...))
        return args.run(args, settings)
    if args.command == "admins":
        from services.console.admins import run as admins
        from shared.db.engine import make_engine

        return admins(args, make_engine(settings.database_url, pool_size=1))
    return _keys(args, settings)


def main() -> None:
    try:
        sys.exit(run())
    except ConfigError as exc:
        print(f"mailpipe: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
