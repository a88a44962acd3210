"""deploy/: the alert rules and the Grafana dashboard parse, and name only metrics mailpipe has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import shared.metrics.instruments  # noqa: F401 - registers every counter and histogram
from shared.metrics import gauges

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NAME = re.compile(r"\b(mailpipe_[a-z0-9_]+)")


def known_metrics() -> set[str]:
    """Every sample name mailpipe exposes: the instruments, and the scheduler's gauges."""
    names = {s.name for m in REGISTRY.collect() if m.name.startswith("mailpipe_")
             for s in m.samples}
    names |= {f"{m.name}{suffix}" for m in REGISTRY.collect() if m.name.startswith("mailpipe_")
              for suffix in ("_total", "_bucket", "_count", "_sum")}
    source = Path(gauges.__file__).read_text()
    scraped = set(re.findall(r'"(mailpipe_[a-z0-9_]+)"', source))
    return names | scraped | {"mailpipe_scrape_errors_total"}


def test_alert_rules_are_well_formed_and_name_real_metrics():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "MailpipeProcessDown", "MailpipeBounceRateNearSesReview",
        "MailpipeComplaintRateNearSesReview", "MailpipeQueueStuck", "MailpipeUnknownOutcomes",
        "MailpipeQuotaNearlySpent"}
    known = known_metrics()
    for alert in alerts:
        assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}, alert["alert"]
        assert alert["expr"].strip() and alert["annotations"]["summary"]
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert set(NAME.findall(alert["expr"])) <= known, alert["alert"]


def test_promtool_accepts_the_alert_rules():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (Debian's prometheus; scripts/test installs it)"
    result = subprocess.run([promtool, "check", "rules", str(DEPLOY / "alerts.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_panels_query_real_metrics():
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    known = known_metrics()
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        assert set(NAME.findall(expr)) <= known, expr
