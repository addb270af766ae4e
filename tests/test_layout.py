"""The code base keeps the shape the developers' guide asks for: small modules and
functions, no reaching into another module's private names, argument parsing only in
the command line. Read from the source files with `ast`, nothing imported."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 90
SOURCES = sorted(
    path
    for folder in ("larq_nobn", "zoo")
    for path in (ROOT / folder).rglob("*.py")
    if "__pycache__" not in path.parts
)
IDS = [str(path.relative_to(ROOT)) for path in SOURCES]


def _tree(path):
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _code_lines(function) -> int:
    """Lines of a function's body, its docstring left out."""
    body = function.body
    first = body[0]
    is_docstring = isinstance(first, ast.Expr) and isinstance(
        getattr(first, "value", None), ast.Constant
    ) and isinstance(first.value.value, str)
    if is_docstring:
        if len(body) == 1:
            return 0
        first = body[1]
    return function.end_lineno - first.lineno + 1


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_sources_found():
    assert len(SOURCES) > 30
    assert any(path.name == "loop.py" for path in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_module_size(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_function_size(path):
    long = [
        (node.name, _code_lines(node))
        for node in ast.walk(_tree(path))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and _code_lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, long


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_no_private_names_of_other_modules(path):
    """Neither `from larq_nobn.x import _name` nor `module._name` on an imported
    larq_nobn module (a package's own `_private` helper modules may be imported)."""
    tree = _tree(path)
    modules = set()
    offending = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("larq_nobn"):
            offending += [alias.name for alias in node.names if _is_private(alias.name)]
            modules.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(
                alias.asname or alias.name
                for alias in node.names
                if alias.name.startswith("larq_nobn")
            )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and _is_private(node.attr)
        ):
            offending.append(f"{node.value.id}.{node.attr}")
    assert not offending, offending


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_argument_parsing_only_in_cli(path):
    if "cli" in path.relative_to(ROOT).parts:
        return
    imports = {
        alias.name
        for node in ast.walk(_tree(path))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    } | {
        node.module
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.ImportFrom)
    }
    assert "argparse" not in imports, f"{path.name} parses arguments outside larq_nobn/cli"
