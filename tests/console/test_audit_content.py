"""Content changes made in the console are in the audit log with who made them: templates
saved and restored, lists saved, edited and deleted, send plans created, paused, resumed
and cancelled (each entry written in the transaction of its change)."""

from __future__ import annotations

import re

import requests

from shared.db.audit import entries
from tests.console.conftest import sign_in


def _client(page, console) -> tuple[requests.Session, str]:
    """The signed-in browser's cookies and CSRF token, for plain HTTP calls."""
    sign_in(page, console, "editor")
    client = requests.Session()
    for cookie in page.context.cookies():
        client.cookies.set(cookie["name"], cookie["value"])
    page.goto(f"{console.url}/ui/templates")
    return client, page.locator('meta[name="csrf-token"]').get_attribute("content")


def _newest(console, action: str):
    with console.engine.connect() as conn:
        found = entries(conn, action=action, limit=1)
    assert found, f"no {action} entry"
    return found[0]


def test_template_list_and_plan_changes_are_audited(page, console):
    client, csrf = _client(page, console)
    editor = console.accounts["editor"][0]
    url = console.url

    def post(path: str, **kwargs) -> requests.Response:
        answer = client.post(f"{url}{path}", allow_redirects=False, timeout=30, **kwargs)
        assert answer.status_code < 400, (path, answer.status_code, answer.text[:300])
        return answer

    saved = post("/ui/templates/new", data={"csrf": csrf, "name": "audited", "subject": "v1",
                                            "html": "<p>{{name}}</p>"})
    template_id = int(re.search(r"/templates/(\d+)", saved.headers["Location"]).group(1))
    created = _newest(console, "template.create")
    assert created.actor == editor and created.after["subject"] == "v1"
    post(f"/ui/templates/{template_id}", data={"csrf": csrf, "name": "audited",
                                               "subject": "v2", "html": "<p>{{name}}</p>"})
    updated = _newest(console, "template.update")
    assert (updated.before["version"], updated.after["version"]) == (1, 2)
    post(f"/ui/templates/{template_id}/restore", data={"csrf": csrf, "version": "1"})
    restored = _newest(console, "template.restore")
    assert restored.after["from_version"] == 1 and restored.after["subject"] == "v1"

    headers = {"X-CSRF-Token": csrf}
    grid = {"name": "audited list", "template_id": template_id, "columns": ["email", "name"],
            "rows": [["a@example.com", "A"], ["b@example.com", "B"], ["", ""]]}
    list_id = post("/ui/grids", json=grid, headers=headers).json()["id"]
    assert _newest(console, "list.create").after == {
        "name": "audited list", "template": template_id, "recipients": 2}
    post(f"/ui/grids/{list_id}", json={**grid, "rows": grid["rows"][:1]}, headers=headers)
    edit = _newest(console, "list.update")
    assert (edit.before["recipients"], edit.after["recipients"]) == (2, 1)

    plan = post("/ui/plans", headers=headers, files={"name": (None, "audited plan"),
                                    "template": (None, str(template_id)),
                                    "topic": (None, "audited"), "grid": (None, str(list_id)),
                                    "scheduled_at": (None, "2031-01-01T00:00:00Z")})
    campaign_id = plan.json()["id"]
    made = _newest(console, "campaign.create")
    assert made.target == f"campaign {campaign_id}" and made.after["recipients"] == 1
    for action, status in (("pause", "paused"), ("resume", "active"),
                           ("cancel", "cancelled")):
        post(f"/ui/plans/{campaign_id}/{action}", data={"csrf": csrf})
        changed = _newest(console, f"campaign.{status}")
        assert changed.actor == editor and changed.after == {"status": status}

    client.delete(f"{url}/ui/grids/{list_id}", headers=headers, timeout=30)
    deleted = _newest(console, "list.delete")
    assert deleted.before["name"] == "audited list" and deleted.address == "127.0.0.1"
