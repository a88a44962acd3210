"""``mailpipe ses``: set up SES's feedback loop (``setup``), say what is wrong with the
account (``status``), and prove the loop end to end (``test``).

The work is in shared.ses (setup: ``shared.ses.setup``; the checks the console's SES
page shows too: ``shared.ses.checks``); this module reads the arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from shared.settings import Settings

# shared.ses (and boto3 with it) is imported where a command runs, not here: every
# ``mailpipe`` command line is parsed with this module's arguments.


def add_parser(sub) -> None:
    ses = sub.add_parser("ses", help="set up and check the SES account mailpipe sends through")
    ses_sub = ses.add_subparsers(dest="ses_command", required=True)
    setup = ses_sub.add_parser(
        "setup", help="create or check the configuration set, SNS topic, event destination "
        "and subscription that bring SES's events to mailpipe (never deletes)")
    setup.add_argument("--public-url", required=True,
                       help="where SNS reaches the api, e.g. https://mail.example.com")
    setup.add_argument("--configuration-set", help="its name (default: "
                       "MAILPIPE_SES_CONFIGURATION_SET, else mailpipe)")
    setup.add_argument("--topic", help="the SNS topic's name (default: mailpipe-ses-events)")
    setup.add_argument("--ses-tracking", action="store_true",
                       help="pass SES's OPEN and CLICK events too (SES tracks, not mailpipe)")
    setup.add_argument("--dry-run", action="store_true", help="say what would be done")
    status = ses_sub.add_parser("status", help="the account, its identities and the loop, "
                                "each problem with what fixes it")
    status.add_argument("--json", action="store_true", help="as JSON")
    test = ses_sub.add_parser(
        "test", help="send to SES's mailbox simulator (success, bounce, complaint) through "
        "mailpipe and wait for the three events to come back through the loop")
    test.add_argument("--key-id", type=int, required=True, help="the API key to send as")
    test.add_argument("--from", dest="from_addr",
                      help="the sender address (default: MAILPIPE_DEFAULT_FROM)")
    test.add_argument("--timeout", type=float, default=300.0,
                      help="seconds to wait for the events (default 300)")
    ses.set_defaults(run=run)


def sns_client(settings: Settings):
    """An SNS client in the region mailpipe sends in (AWS_ENDPOINT_URL_SNS honoured)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "sns", region_name=settings.aws_region or None,
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"},
                      connect_timeout=5, read_timeout=10))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from shared.ses.account import SesUnavailable
    from shared.transports.ses import ses_client

    if args.ses_command == "test":
        return _test(args, settings)
    try:
        ses, sns = ses_client(settings, max_connections=2), sns_client(settings)
        if args.ses_command == "setup":
            return _setup(args, settings, ses, sns)
        return _status(args, settings, ses, sns)
    except SesUnavailable as exc:
        from shared.ses.checks import unreadable

        problem = unreadable(exc)
        print(f"mailpipe ses: {problem.what}\n  {exc.operation}: {exc.detail}\n  "
              f"fix: {problem.fix}", file=sys.stderr)
        return 1


def _setup(args, settings: Settings, ses, sns) -> int:
    from shared.events.sns import parse_topic_arns
    from shared.ses import setup as loop

    why = loop.check_public_url(args.public_url)
    if why:
        print(f"mailpipe ses setup: {why}", file=sys.stderr)
        return 2
    plan = loop.Plan(public_url=args.public_url,
                     configuration_set=(args.configuration_set or settings.ses_configuration_set
                                        or loop.DEFAULT_CONFIGURATION_SET),
                     topic=args.topic or loop.DEFAULT_TOPIC, ses_tracking=args.ses_tracking,
                     dry_run=args.dry_run)
    if plan.protocol == "http":
        print("warning: SNS will deliver over plain http; use an https:// public URL in "
              "production", file=sys.stderr)
    steps, topic_arn = loop.setup(ses, sns, plan)
    for step in steps:
        print(f"{step.outcome:<20} {step.part}: {step.name}"
              + (f" ({step.note})" if step.note else ""))
    advice = loop.topic_advice(topic_arn, parse_topic_arns(settings.sns_topic_arns))
    if advice:
        print(f"note: {advice}")
    if plan.configuration_set != settings.ses_configuration_set:
        print(f"note: sends name the configuration set MAILPIPE_SES_CONFIGURATION_SET names; "
              f"set MAILPIPE_SES_CONFIGURATION_SET={plan.configuration_set} for every "
              f"sender (or name it on a key: mailpipe keys change ID --configuration-set "
              f"{plan.configuration_set})")
    elif steps[0].outcome == loop.CREATED:
        print("note: running senders name the new configuration set within five minutes "
              "(each looks again for it that often while it names none)")
    return 0


def status_report(settings: Settings, ses, sns, engine, now: datetime | None = None) -> dict:
    """What ``status`` says, as data: the account, identities, the loop and the problems,
    each with its fix (English)."""
    from shared.db.feedback import newest_sns_event
    from shared.db.keys import list_keys
    from shared.events.sns import parse_topic_arns
    from shared.ses import account as reads
    from shared.ses import setup as loop
    from shared.ses.account import SesUnavailable
    from shared.ses.checks import events_url, key_set_problems, problems, sending_from
    from shared.ses.identities import read_sender_identities

    with engine.connect() as conn:
        last_event = newest_sns_event(conn)
        keys = list_keys(conn)
    senders = sending_from(settings.default_from, keys)
    url = events_url(settings.public_url)
    reading = reads.read(ses, settings.ses_configuration_set, lambda: sns, url)
    found = problems(reading, senders=list(senders), events_url=url,
                     topic_arns=parse_topic_arns(settings.sns_topic_arns),
                     last_event=last_event, now=now or datetime.now(UTC))
    found += key_set_problems(_missing_key_sets(ses, keys), url)
    try:
        identities = [{"name": i.name, "kind": i.identity.kind, "status": i.identity.status,
                       "dkim": i.dkim.status if i.dkim else None,
                       "mailFrom": i.mail_from}
                      for i in read_sender_identities(ses)]
    except SesUnavailable:
        identities = None  # the problems say why (identities_unreadable)
    account = reading.account
    found_set = reading.configuration_set
    return {
        "region": reading.region,
        "production": account.production,
        "sendingEnabled": account.sending_enabled,
        "enforcementStatus": account.enforcement,
        "maxSendRate": account.max_send_rate,
        "max24HourSend": account.max_24h,
        "sentLast24Hours": account.sent_24h,
        "identities": identities,
        "configurationSet": settings.ses_configuration_set,
        "configurationSetExists": found_set is not None,
        "destinations": [{"name": d.name, "enabled": d.enabled, "kind": d.kind,
                          "topic": d.topic_arn, "types": sorted(d.types)}
                         for d in (found_set.destinations if found_set else ())],
        "subscriptions": None if reading.subscriptions is None else {
            topic: {"subscription": arn, "confirmed": loop.confirmed(arn)}
            for topic, arn in reading.subscriptions.items()},
        "eventsUrl": url,
        "lastEvent": None if last_event is None else {
            "type": last_event.type, "at": last_event.occurred_at.isoformat()},
        "problems": [{"code": p.code, "what": str(p.what), "fix": str(p.fix)} for p in found],
    }


def _missing_key_sets(ses, keys) -> dict[str, list[str]]:
    """Each configuration set an active key names that SES says it does not have → the
    names of the keys naming it (a set that cannot be read is not called missing)."""
    from shared.ses.account import SesUnavailable, read_configuration_set

    named: dict[str, list[str]] = {}
    for key in keys:
        if key.revoked_at is None and key.ses_configuration_set:
            named.setdefault(key.ses_configuration_set, []).append(key.name)
    missing = {}
    for name, users in named.items():
        try:
            if read_configuration_set(ses, name) is None:
                missing[name] = users
        except SesUnavailable:
            continue  # the set mailpipe names says why SES cannot be read
    return missing


def _status(args, settings: Settings, ses, sns) -> int:
    from shared.db.engine import make_engine

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        report = status_report(settings, ses, sns, engine)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_status_text(report))
    return 1 if report["problems"] else 0


def _status_text(r: dict) -> str:
    quota = ("unlimited" if r["max24HourSend"] < 0
             else f"{r['sentLast24Hours']:g} of {r['max24HourSend']:g} sent in 24 h")
    lines = [
        f"region            {r['region']}",
        f"account           {'production' if r['production'] else 'SANDBOX'}",
        f"sending           {'enabled' if r['sendingEnabled'] else 'DISABLED'}",
        f"enforcement       {r['enforcementStatus']}",
        f"send rate         {r['maxSendRate']:g}/s; {quota}",
        f"configuration set {r['configurationSet'] or '(none named)'}"
        + ("" if r["configurationSetExists"] or not r["configurationSet"] else " (MISSING)"),
    ]
    lines += [f"  destination     {d['name']} {d['kind']} {d['topic'] or ''} "
              f"{'enabled' if d['enabled'] else 'DISABLED'}: {', '.join(d['types'])}"
              for d in r["destinations"]]
    lines += [f"  subscription    {topic} -> {r['eventsUrl']}: "
              f"{'confirmed' if s['confirmed'] else s['subscription'] or 'NONE'}"
              for topic, s in (r["subscriptions"] or {}).items()]
    last = r["lastEvent"]
    lines.append(f"last SES event    {last['type'] + ' at ' + last['at'] if last else 'never'}")
    for identity in r["identities"] or ():
        lines.append(f"identity          {identity['name']}: {identity['status']}, DKIM "
                     f"{identity['dkim'] or '?'}, MAIL FROM {identity['mailFrom'] or 'SES'}")
    if not r["problems"]:
        lines.append("no problems: mailpipe can send and hears back")
    for problem in r["problems"]:
        lines += [f"PROBLEM {problem['code']}: {problem['what']}", f"  fix: {problem['fix']}"]
    return "\n".join(lines)


def _test(args, settings: Settings, poll: float = 1.0) -> int:
    """``ses test``: the simulator's three messages sent as key ``--key-id`` by the running
    senders; each event reported as it comes back; 0 when all three did in time."""
    from shared.broker.queues import make_broker
    from shared.db.engine import make_engine
    from shared.db.keys import get_key
    from shared.errors import RequestError
    from shared.ses.simulator import await_events, send_probes

    engine = make_engine(settings.database_url, pool_size=1)
    broker = make_broker(settings)
    try:
        with engine.connect() as conn:
            key = get_key(conn, args.key_id)
        if key is None or key.revoked_at is not None:
            print(f"mailpipe ses test: no active key with id {args.key_id}", file=sys.stderr)
            return 1
        from_addr = args.from_addr or settings.default_from
        if not from_addr:
            print("mailpipe ses test: name a sender with --from (or set "
                  "MAILPIPE_DEFAULT_FROM)", file=sys.stderr)
            return 2
        try:
            probes = send_probes(engine, broker, key, settings, from_addr)
        except RequestError as exc:
            print(f"mailpipe ses test: {exc.message}", file=sys.stderr)
            return 2
        for probe in probes:
            print(f"queued   {probe.address}: message {probe.message_id}, waiting for "
                  f"{probe.expected.value}")
        done = await_events(engine, key, probes, args.timeout, poll=poll, report=lambda p: print(
            f"arrived  {p.address}: {p.expected.value} (message {p.message_id}, SES "
            f"{p.provider_message_id}; events {', '.join(p.events)})", flush=True))
    finally:
        broker.close()
        engine.dispose()
    for probe in probes:
        if not probe.done:
            print(f"MISSING  {probe.address}: message {probe.message_id} is {probe.state}"
                  + (f" (SES {probe.provider_message_id})" if probe.provider_message_id else "")
                  + f", events: {', '.join(probe.events) or 'none'}", file=sys.stderr)
    if not done:
        print("the loop is not closed: run mailpipe ses status for what is wrong (a message "
              "still queued: are the senders running? sent without events: the "
              "configuration set, its destination or the subscription)", file=sys.stderr)
    return 0 if done else 1
