"""Send plans from a CSV file, paused, resumed and cancelled from the list; an admin
chooses the API key the console acts as."""

from __future__ import annotations

from shared.db.campaigns import get_campaign
from shared.db.keys import create_key
from shared.db.templates import create_template, list_templates
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in


def _open_form(page) -> None:
    if page.locator("#new-plan").get_attribute("open") is None:
        page.click("#new-plan summary")


def _submit_csv_plan(page, console, tmp_path, name: str, rows: str,
                     when: str | None = None) -> None:
    """As an editor, a plan named ``name`` of a new template with ``rows`` as its CSV."""
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, f"csv {name}",
                                   TemplateSource("Hi {{name}}", "<p>{{name}}</p>", None))
    csv_file = tmp_path / f"{name}.csv"
    csv_file.write_text(rows)
    sign_in(page, console, "editor")
    _open_form(page)
    page.fill("input[name=name]", name)
    page.select_option("select[name=template]", str(template.id))
    page.fill("input[name=topic]", f"{name}-topic")
    if when:
        page.fill("#plan-when", when)
    page.set_input_files("input[name=recipients]", str(csv_file))
    page.click("#create-plan")


def test_a_csv_plan_is_paused_resumed_and_cancelled(page, console, tmp_path):
    _submit_csv_plan(page, console, tmp_path, "later",
                     "email,name\na@example.com,A\nb@example.com,B\na@EXAMPLE.com,dup\n",
                     when="2031-01-01T09:00:00")
    page.wait_for_selector(".plan")
    card = page.locator(".plan").first
    plan_id = int(card.get_attribute("id").split("-")[1])
    with console.engine.connect() as conn:
        plan = get_campaign(conn, console.key.id, plan_id)
    assert (plan.total, plan.duplicates, plan.status) == (2, 1, "active")
    for action, status, done in (("pause", "paused", "paused"), ("resume", "active", "resumed"),
                                 ("cancel", "cancelled", "cancelled")):
        page.once("dialog", lambda dialog: dialog.accept())
        # The action comes back to the plans page, saying what it did to which plan.
        with page.expect_navigation(url=f"{console.url}/ui/plans?{done}={plan_id}*"):
            page.click(f'#plan-{plan_id} button[data-action="{action}"]')
        with console.engine.connect() as conn:
            assert get_campaign(conn, console.key.id, plan_id).status == status
    assert page.locator(f"#plan-{plan_id} [data-phase]").get_attribute("data-value") \
        == "cancelled"
    shot(page, "plans-cancelled")


def test_a_bad_csv_row_is_reported_and_nothing_is_created(page, console, tmp_path):
    _submit_csv_plan(page, console, tmp_path, "bad", "email,name\nok@example.com,A\nnope,B\n")
    page.wait_for_selector("#plan-errors li")
    assert "row 3: 'nope' is not a valid email address" in page.locator(
        "#plan-errors").inner_text()


def test_an_admin_chooses_the_api_key_the_console_acts_as(page, console):
    with console.engine.begin() as conn:
        other, _ = create_key(conn, "second tenant", [])
        create_template(conn, other.id, "only in the second",
                        TemplateSource("s", "<p>x</p>", None))
    sign_in(page, console, "admin")
    page.goto(f"{console.url}/ui/templates")
    assert "only in the second" not in page.content()
    # Choosing submits the form, which comes back to this same URL: wait for that
    # navigation itself (waiting for the URL returns at once, before it starts).
    with page.expect_navigation(url=f"{console.url}/ui/templates"):
        page.select_option("select[name=key]", str(other.id))
    assert "only in the second" in page.locator("table.list").inner_text()
    with console.engine.connect() as conn:
        assert [t.name for t in list_templates(conn, other.id)] == ["only in the second"]
