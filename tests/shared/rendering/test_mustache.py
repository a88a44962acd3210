"""Template syntax and rendering: escaping, the triple-brace form, missing values, Korean."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from shared.db.messages import ClaimedMessage
from shared.rendering.mime import render
from shared.rendering.mustache import (
    InvalidValue,
    MissingVariable,
    TemplateSource,
    TemplateSyntaxError,
    fill,
    recipient_values,
    render_parts,
    variables_in,
)


def claimed(subject: str, html: str, text: str | None, variables: dict | None) -> ClaimedMessage:
    return ClaimedMessage(1, 1, "s@example.com", "r@example.com", subject, html, text, None,
                          variables=variables)


def test_double_braces_are_html_escaped_in_html():
    html = fill('<p title="{{name}}">{{ name }}</p>', {"name": '<b>"Tom" & Jerry\'s</b>'},
                escape=True)
    assert html == ('<p title="&lt;b&gt;&quot;Tom&quot; &amp; Jerry&#x27;s&lt;/b&gt;">'
                    "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&#x27;s&lt;/b&gt;</p>")


def test_triple_braces_insert_the_value_unescaped():
    assert fill("<div>{{{banner}}}</div>", {"banner": "<b>Sale</b>"}, escape=True) == (
        "<div><b>Sale</b></div>"
    )


def test_subject_and_text_are_never_escaped():
    parts = render_parts(TemplateSource("Hi {{name}}", "<p>{{name}}</p>", "Dear {{name}}"),
                         {"name": "A & B <x>"})
    assert parts.subject == "Hi A & B <x>"
    assert parts.text == "Dear A & B <x>"
    assert parts.html == "<p>A &amp; B &lt;x&gt;</p>"


def test_a_value_is_pasted_once_not_expanded_again():
    assert fill("{{a}}", {"a": "{{b}}", "b": "no"}, escape=False) == "{{b}}"


def test_korean_names_and_values_render():
    source = TemplateSource("{{이름}}님, 주문이 발송되었습니다",
                            "<p>{{이름}}님 안녕하세요. 주문번호 {{order_no}}</p>", None)
    assert source.variables() == ["이름", "order_no"]
    parts = render_parts(source, {"이름": "김민수", "order_no": "A-17"})
    assert parts.subject == "김민수님, 주문이 발송되었습니다"
    assert parts.html == "<p>김민수님 안녕하세요. 주문번호 A-17</p>"


def test_variables_are_listed_once_in_order_of_first_use():
    source = TemplateSource("{{b}} {{a}}", "{{a}} {{{c}}} {{b}}", "{{d}}")
    assert source.variables() == ["b", "a", "c", "d"]
    assert source.subject_variables() == {"a", "b"}


@pytest.mark.parametrize("bad", ["{{first name}}", "{{}}", "{{1x}}", "{{{a}}", "{{a}", "{{ a"])
def test_a_brace_pair_that_is_not_a_variable_is_refused(bad):
    with pytest.raises(TemplateSyntaxError) as caught:
        variables_in(f"<p>ok</p>\n<p>{bad}</p>", "html")
    assert caught.value.code == "invalid_template"
    assert caught.value.field == "html"
    assert "line 2" in caught.value.message


def test_missing_value_is_refused_naming_recipient_and_variable():
    with pytest.raises(MissingVariable) as caught:
        recipient_values(["name", "city"], set(), {"name": "Kim"}, "kim@example.com", "row 7")
    assert caught.value.message == (
        "row 7: recipient kim@example.com has no value for variable 'city'"
    )


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_value_counts_as_missing(blank):
    with pytest.raises(MissingVariable):
        recipient_values(["name"], set(), {"name": blank}, "a@example.com", "row 2")


def test_values_keep_only_the_templates_variables_as_text():
    values = recipient_values(["n", "f", "ok"], set(), {"n": 3, "f": 1.5, "ok": True, "x": "y"},
                              "a@example.com", "recipients[0]")
    assert values == {"n": "3", "f": "1.5", "ok": "true"}


def test_line_break_in_a_subject_value_is_refused():
    with pytest.raises(InvalidValue) as caught:
        recipient_values(["name"], {"name"}, {"name": "a\r\nBcc: x@evil.example"},
                         "a@example.com", "row 3")
    assert "subject" in caught.value.message and "row 3" in caught.value.message
    # The same value is fine in a body.
    recipient_values(["name"], set(), {"name": "a\nb"}, "a@example.com", "row 3")


def test_rendered_mime_carries_the_recipients_values():
    message = claimed("{{이름}}님 안녕하세요", "<p>{{이름}} &amp; {{note}}</p>", None,
                      {"이름": "김민수", "note": "<3"})
    mime = message_from_bytes(render(message, now=datetime.now(UTC)).as_bytes(),
                              policy=policy.default)
    assert mime["Subject"] == "김민수님 안녕하세요"
    html = mime.get_body(("html",)).get_content()
    assert "<p>김민수 &amp; &lt;3</p>" in html
    assert "김민수 & <3" in mime.get_body(("plain",)).get_content()


def test_a_templated_message_without_its_values_is_not_rendered_blank():
    with pytest.raises(MissingVariable):
        render(claimed("Hi {{name}}", "<p>x</p>", None, {}), now=datetime.now(UTC))


def test_an_untemplated_message_is_left_as_is():
    mime = render(claimed("{{literal}}", "<p>{{x}}</p>", None, None), now=datetime.now(UTC))
    assert mime["Subject"] == "{{literal}}"
