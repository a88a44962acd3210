"""Templates with ``{{variables}}``: parsing, checking values, rendering.

Syntax (mustache's two forms, nothing else):

    {{name}}     the value, HTML-escaped in an HTML part
    {{{name}}}   the value as is (trusted markup), in any part

Inside the braces, spaces around the name are allowed. A name is a letter
(any script: ``{{이름}}`` works) or ``_``, then letters, digits, ``_``, ``-``
or ``.``. Any other ``{{`` is an error when the template is saved, so a typo
such as ``{{first name}}`` is refused instead of being mailed out literally.

Subjects and text parts are never escaped: they are not HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.text import has_line_break, text_problem

_NAME = r"[^\W\d][\w.\-]*"
_TAG = re.compile(rf"\{{\{{\{{\s*({_NAME})\s*\}}\}}\}}|\{{\{{\s*({_NAME})\s*\}}\}}")
#: The longest value one variable may have (a value is pasted into a mail, not a file).
MAX_VALUE_CHARS = 10_000


class TemplateSyntaxError(InvalidRequest):
    """Raised when a template part has a ``{{`` that is not a valid tag.

    ``field`` names the part, ``line`` the line of the part the tag is on and
    ``tag`` what was written there, so a page can say where in its own words
    (a visual editor has no lines).
    """

    def __init__(self, field: str, line: int, tag: str) -> None:
        super().__init__("invalid_template", Text(
            "%(field)s, line %(line)s: '%(tag)s' is not a variable; write {{name}} or "
            "{{{name}}} with a name of letters, digits, '_', '-' or '.'",
            field=field, line=line, tag=tag), field=field)
        self.line = line
        self.tag = tag


class MissingVariable(InvalidRequest):
    """Raised when a recipient has no value for a variable the template uses."""


class InvalidValue(InvalidRequest):
    """Raised when a variable's value cannot be used (not text, NUL, line break in a subject)."""


def variables_in(source: str, field: str = "template") -> list[str]:
    """The variable names used in ``source``, in order of first use.

    Raises TemplateSyntaxError naming ``field`` and the line of a ``{{`` that
    is not a valid tag.
    """
    names: dict[str, None] = {}
    position = 0
    while (start := source.find("{{", position)) != -1:
        match = _TAG.match(source, start)
        if match is None:
            raise TemplateSyntaxError(field, source.count("\n", 0, start) + 1,
                                      _tag_at(source, start))
        names[match.group(1) or match.group(2)] = None
        position = match.end()
    return list(names)


def _tag_at(source: str, start: int) -> str:
    """What was written as a tag at ``start``: up to its closing braces on the same line,
    else (none there) the rest of the line, at most 40 characters."""
    line = source[start:].split("\n", 1)[0]
    end = line.find("}}", 2)
    if end == -1 or end > 40:
        return line[:40]
    return line[:end + 3] if line[end + 2:end + 3] == "}" else line[:end + 2]


@dataclass(frozen=True)
class TemplateSource:
    """The three parts of one template version."""

    subject: str
    html: str
    text: str | None

    def variables(self) -> list[str]:
        """Every variable of every part, in order of first use (subject, html, text)."""
        seen: dict[str, None] = {}
        for field, part in (("subject", self.subject), ("html", self.html), ("text", self.text)):
            for name in variables_in(part or "", field):
                seen[name] = None
        return list(seen)

    def subject_variables(self) -> set[str]:
        return set(variables_in(self.subject, "subject"))


def fill(source: str, values: Mapping[str, str], *, escape: bool) -> str:
    """``source`` with every tag replaced by its value; MissingVariable if one has none.

    ``escape`` HTML-escapes the double-brace form (use it for HTML parts).
    """
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        value = values.get(name)
        if value is None:
            raise MissingVariable("missing_variable", Text(
                "no value for variable '%(name)s'", name=name), field=name)
        if escape and match.group(2):
            return html.escape(value, quote=True)
        return value

    return _TAG.sub(replace, source)


def render_parts(source: TemplateSource, values: Mapping[str, str]) -> TemplateSource:
    """The subject, HTML and text of ``source`` filled with ``values``."""
    return TemplateSource(
        subject=fill(source.subject, values, escape=False),
        html=fill(source.html, values, escape=True),
        text=fill(source.text, values, escape=False) if source.text is not None else None,
    )


def as_text(value: Any) -> str | None:
    """A JSON or CSV value as the text to paste in; None when there is none to paste."""
    if isinstance(value, str):  # first: every CSV cell, most JSON values
        return value if value.strip() else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise InvalidValue("invalid_value", Text("must be a string or a number"))


def recipient_values(
    variables: list[str], subject_variables: set[str], given: Mapping[str, Any], email: str,
    where: Text | str,
) -> dict[str, str]:
    """The values one recipient will be sent with: exactly the template's variables.

    A value that is absent, null or blank counts as missing: mailpipe never
    sends a blank where the template expects something. Raises naming
    ``where`` (``row 7``, a ``Text`` to be translated with the message, or a
    field path as ``messages[0]``), the recipient and the variable; extra values
    the template does not use are dropped.
    """
    values = {}
    for name in variables:
        try:
            value = as_text(given.get(name))
        except InvalidValue as exc:
            raise InvalidValue("invalid_value", Text(
                "%(where)s: recipient %(email)s: variable '%(name)s' %(problem)s",
                where=where, email=email, name=name, problem=exc.text), field=name) from None
        if value is None:
            raise MissingVariable("missing_variable", Text(
                "%(where)s: recipient %(email)s has no value for variable '%(name)s'",
                where=where, email=email, name=name), field=name)
        if text_problem(value) or len(value) > MAX_VALUE_CHARS:
            raise InvalidValue("invalid_value", Text(
                "%(where)s: recipient %(email)s: variable '%(name)s' has a NUL character or a "
                "lone surrogate, or is longer than %(max)s characters",
                where=where, email=email, name=name, max=MAX_VALUE_CHARS), field=name)
        if name in subject_variables and has_line_break(value):
            raise InvalidValue("invalid_value", Text(
                "%(where)s: recipient %(email)s: variable '%(name)s' is used in the subject "
                "and must not contain line breaks", where=where, email=email, name=name),
                field=name)
        values[name] = value
    return values


def personalize(message):
    """A claimed message (``shared.db.messages.ClaimedMessage``) with its template filled in.

    Untouched when ``message.variables`` is None (not a template). Raises
    MissingVariable rather than send a blank; the sender records it as failed.
    """
    if message.variables is None:
        return message
    parts = render_parts(TemplateSource(message.subject, message.html, message.text),
                         message.variables)
    return replace(message, subject=parts.subject, html=parts.html, text=parts.text)
