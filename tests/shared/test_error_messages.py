"""Every error the code can raise is built from a message the catalog can translate.

``test_catalogs.py`` checks that every *extracted* message has its Korean;
a message Babel cannot extract (an f-string, a plain ``str``) would reach
the console in English and that test could not see it. So every call that
builds a ``RequestError`` (any subclass), an ``AddressError`` or a pydantic
problem (``shared.intake.fields.problem``) in ``shared/`` and ``services/``
must pass its message as ``Text("…")`` or ``ntext("…", "…", n)`` with literal
msgids, or as a name that holds one: a variable assigned one (or the answer
of a function that returns a ``Text``, as ``text_problem``) in the same
function, a parameter annotated ``Text``, or an existing error's ``.text``.
``ALLOWED`` lists the few that re-raise a message built elsewhere.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("shared", "services")
#: The error classes whose messages people read; their subclasses are found in the code.
ERROR_ROOTS = {"RequestError", "AddressError"}
#: Functions that build an error from a message, and where the message goes.
BUILDERS = {"problem": ("shared/intake/fields.py", 1)}
#: (file, message expression) that pass on a message built (and checked) elsewhere.
ALLOWED = {
    # parse(): the first of the details problems.detail built, each a Text.
    ("services/api/schemas/messages.py", "first['message']"),
    # parse_first(): the chosen one of those details.
    ("services/api/schemas/compat.py", "chosen['message']"),
    # attachment_problem() answers (code, Text).
    ("services/api/schemas/messages.py", "*found"),
    # url_problem() answers (code, Text) too (shared.webhooks.urls).
    ("services/api/schemas/webhooks.py", "*found"),
}


@dataclass(frozen=True)
class Site:
    path: str
    line: int
    callee: str
    message: ast.expr | None
    scope: ast.AST | None

    def __str__(self) -> str:
        shown = ast.unparse(self.message) if self.message is not None else "no message"
        return f"{self.path}:{self.line}: {self.callee}({shown[:80]})"


def _modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"))
            for source in SOURCES for path in sorted((ROOT / source).rglob("*.py"))}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _classes(modules: dict[str, ast.Module]) -> dict[str, ast.ClassDef]:
    """Every error class people read the message of, by name (the roots and subclasses)."""
    defined = {node.name: node for tree in modules.values() for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef)}
    found = {name: defined[name] for name in ERROR_ROOTS}
    grown = True
    while grown:
        grown = False
        for name, node in defined.items():
            if name not in found and any(_name(base) in found for base in node.bases):
                found[name] = node
                grown = True
    return found


def _message_index(name: str, classes: dict[str, ast.ClassDef]) -> int | None:
    """The position of ``message`` among the constructor's arguments (after self), from the
    nearest class that defines ``__init__``; None when the class builds its own."""
    node = classes[name]
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            params = [arg.arg for arg in item.args.posonlyargs + item.args.args][1:]
            return params.index("message") if "message" in params else None
    parent = next(_name(base) for base in node.bases if _name(base) in classes) \
        if node.name not in ERROR_ROOTS else None
    return _message_index(parent, classes) if parent else None


def _argument(call: ast.Call, index: int) -> ast.expr | None:
    for position, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred) or position == index:
            return arg
    return next((k.value for k in call.keywords if k.arg == "message"), None)


def _sites(modules: dict[str, ast.Module]) -> list[Site]:
    classes = _classes(modules)
    sites = []
    for path, tree in modules.items():
        builders = {alias.asname or alias.name: BUILDERS[alias.name][1]
                    for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    for alias in node.names if alias.name in BUILDERS
                    and f"{node.module.replace('.', '/')}.py" == BUILDERS[alias.name][0]}
        builders.update({name: index for name, (home, index) in BUILDERS.items()
                         if home == path})
        for scope, owner, call in _calls(tree):
            callee = _name(call.func)
            if callee in classes:
                index = _message_index(callee, classes)
            elif callee in builders and isinstance(call.func, ast.Name):
                index = builders[callee]
            elif _is_super_init(call) and owner is not None and owner.name in classes:
                parent = next((_name(b) for b in owner.bases if _name(b) in classes), None)
                if parent is None:
                    continue
                callee, index = f"{parent}.__init__", _message_index(parent, classes)
            else:
                continue
            if index is not None:
                sites.append(Site(path, call.lineno, callee, _argument(call, index), scope))
    return sites


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "__init__"
            and isinstance(func.value, ast.Call) and _name(func.value.func) == "super")


def _calls(tree: ast.Module):
    """(enclosing function, the class it is a method of, call) for every call; None where
    there is none (a lambda belongs to the function it is written in)."""
    def walk(node: ast.AST, scope, method_of, owner):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from walk(child, scope, method_of, child)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(child, child, owner, None)
            else:
                if isinstance(child, ast.Call):
                    yield scope, method_of, child
                yield from walk(child, scope, method_of, owner)
    yield from walk(tree, None, None, None)


def _literal_text(node: ast.expr) -> bool:
    """``Text("…", …)`` or ``ntext("…", "…", n, …)`` with literal msgids."""
    if not isinstance(node, ast.Call):
        return False
    literals = {"Text": 1, "ntext": 2}.get(_name(node.func) or "")
    return literals is not None and len(node.args) >= literals and all(
        isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        for arg in node.args[:literals])


@cache
def _text_functions() -> frozenset[str]:
    """The functions of the code that return a ``Text`` (or None), by name."""
    return frozenset(node.name for tree in _modules().values() for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef) and node.returns is not None
                     and ast.unparse(node.returns) in ("Text", "Text | None"))


def _translatable(node: ast.expr, scope: ast.AST | None) -> bool:
    if _literal_text(node):
        return True
    if isinstance(node, ast.Call) and _name(node.func) in _text_functions():
        return True
    if isinstance(node, ast.IfExp):
        return _translatable(node.body, scope) and _translatable(node.orelse, scope)
    if isinstance(node, ast.Attribute) and node.attr == "text":
        return True  # an existing error's Text, passed on
    if isinstance(node, ast.Name) and scope is not None:
        return _holds_text(node.id, scope)
    return False


def _holds_text(name: str, scope: ast.AST) -> bool:
    """``name`` is a parameter annotated Text, or is only ever assigned translatable values."""
    arguments = scope.args
    for arg in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
        if arg.arg == name:
            return arg.annotation is not None and "Text" in ast.unparse(arg.annotation)
    values = [node.value for node in ast.walk(scope) if isinstance(node, ast.Assign)
              and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)]
    return bool(values) and all(_translatable(value, scope) for value in values)


def _acceptable(site: Site) -> bool:
    if site.message is None:
        return False
    if (site.path, ast.unparse(site.message)) in ALLOWED:
        return True
    return _translatable(site.message, site.scope)


@pytest.fixture(scope="module")
def sites() -> list[Site]:
    return _sites(_modules())


def test_every_error_message_the_code_builds_is_a_translatable_text(sites):
    assert len(sites) > 120  # the scan found the code's errors
    assert [str(site) for site in sites if not _acceptable(site)] == []


def test_the_scan_refuses_f_strings_and_plain_strings():
    code = ast.parse(
        "from shared.errors import InvalidRequest\n"
        "from shared.intake.fields import problem\n"
        "class RequestError(Exception): ...\n"
        "class AddressError(Exception): ...\n"
        "class InvalidRequest(RequestError):\n"
        "    def __init__(self, code, message, *, field=None): ...\n"
        "class Refusal(InvalidRequest):\n"
        "    def __init__(self, line):\n"
        "        super().__init__('bad', f'line {line}')\n"
        "def check(value, said: Text):\n"
        "    kept = Text('kept %(v)s', v=value)\n"
        "    raise InvalidRequest('a', f'{value} is bad')\n"
        "    raise InvalidRequest('b', 'plain words')\n"
        "    raise InvalidRequest('c', Text('%(v)s is bad', v=value))\n"
        "    raise InvalidRequest('d', ntext('one', 'many', 2))\n"
        "    raise InvalidRequest('e', kept)\n"
        "    raise InvalidRequest('f', said)\n"
        "    raise InvalidRequest('g', Text(value))\n"
        "    raise problem('h', 'words')\n"
        "    raise Refusal(3)\n")
    found = [site for site in _sites({"shared/example.py": code})]
    refused = sorted(site.line for site in found if not _acceptable(site))
    assert refused == [9, 12, 13, 18, 19]


def test_pydantic_errors_are_built_only_by_problem():
    direct = [f"{path}:{node.lineno}" for path, tree in _modules().items()
              for node in ast.walk(tree) if isinstance(node, ast.Call)
              and _name(node.func) == "PydanticCustomError"]
    assert direct == [f"shared/intake/fields.py:{_problem_line()}"]


def _problem_line() -> int:
    tree = ast.parse((ROOT / "shared/intake/fields.py").read_text(encoding="utf-8"))
    function = next(node for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name == "problem")
    return next(node.lineno for node in ast.walk(function) if isinstance(node, ast.Call)
                and _name(node.func) == "PydanticCustomError")
