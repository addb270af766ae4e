"""No import cycles in larq_nobn/ and zoo/ (installed as `larq_nobn.zoo`).

Read from the source files with `ast`, nothing imported. Every `import` counts, at
module level or inside a function (so that nobody dodges a cycle with a local import),
and so does a package `__init__` re-exporting its modules. `from package import name`
points at the module `package.name` when there is one, else at the package's
`__init__`; importing `a.b.c` also runs the `__init__` of the packages `a.b` and `a`
(except those that hold the importing module: they are being imported already).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> dotted package it is installed as (setup.py's package_dir).
PACKAGES = {"larq_nobn": "larq_nobn", "zoo": "larq_nobn.zoo"}


def module_files(root=ROOT, packages=PACKAGES):
    """`{dotted module name: path}` of every module under the source folders."""
    modules = {}
    for folder, package in packages.items():
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve_from(module, path, node):
    """The absolute module an `ImportFrom` node names (relative imports resolved)."""
    if not node.level:
        return node.module
    base = module.split(".")
    if not _is_package(path):
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _packages_of(module):
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def imports_of(module, path, modules):
    """The modules of `modules` that `module` (at `path`) imports, anywhere in it."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_from(module, path, node)
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            targets.update({name} | _packages_of(name))
    return (targets & set(modules)) - _packages_of(module) - {module}


def import_graph(modules):
    """`{module: set of imported modules}` over `modules`."""
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def strongly_connected(graph):
    """The strongly connected components of `graph` (Tarjan), each a sorted list."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def a_cycle(graph, component):
    """One cycle through the first module of `component`, as a list of modules."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                frontier.append(target)
    raise AssertionError(f"no cycle through {start} in {component}")


def cycles(graph):
    """One cycle (a list of modules, first == last) per component bigger than one."""
    return [a_cycle(graph, c) for c in strongly_connected(graph) if len(c) > 1]


# --------------------------------------------------------------------------------------
# The checker on hand-made packages: it finds what it must and nothing else.


def _write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_finds_a_cycle_through_a_function_level_import(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import f\n",
        "pkg/b.py": "def f():\n    from pkg import a\n    return a\n",
        "pkg/c.py": "import pkg.a\n",
    })
    graph = import_graph(module_files(tmp_path, {"pkg": "pkg"}))
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"},
                     "pkg.c": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_finds_a_cycle_through_a_package_reexport_and_a_mapped_folder(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from .x import X\n",
        "pkg/sub/x.py": "from ..y import Y\nclass X: pass\n",
        "pkg/y.py": "from pkg.sub import X as Y\n",
        "other/__init__.py": "from pkg.zoo.m import M\n",
        "other/m.py": "from . import n\nM = 1\n",
        "other/n.py": "import os\n",
    })
    modules = module_files(tmp_path, {"pkg": "pkg", "other": "pkg.zoo"})
    graph = import_graph(modules)
    assert graph["pkg.zoo"] == {"pkg.zoo.m"}
    assert graph["pkg.zoo.m"] == {"pkg.zoo.n"}
    assert cycles(graph) == [["pkg.sub", "pkg.sub.x", "pkg.y", "pkg.sub"]]


def test_importing_a_module_runs_its_packages(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from pkg.user import U\n",
        "pkg/sub/x.py": "X = 1\n",
        "pkg/user.py": "from pkg.sub.x import X as U\n",
    })
    graph = import_graph(module_files(tmp_path, {"pkg": "pkg"}))
    assert graph["pkg.user"] == {"pkg.sub", "pkg.sub.x"}
    assert graph["pkg.sub.x"] == set()  # its own packages are being imported already
    assert cycles(graph) == [["pkg.sub", "pkg.user", "pkg.sub"]]


def test_no_cycle_in_a_chain(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "from pkg.a import A\n",
        "pkg/a.py": "from pkg.b import B\nA = B\n",
        "pkg/b.py": "def lazy():\n    import tensorflow_datasets\n",
    })
    assert cycles(import_graph(module_files(tmp_path, {"pkg": "pkg"}))) == []


# --------------------------------------------------------------------------------------
# The code base.

MODULES = module_files()
GRAPH = import_graph(MODULES)


def test_the_graph_covers_the_code_base():
    assert {"larq_nobn", "larq_nobn.optimizers", "larq_nobn.zoo"} <= set(MODULES)
    assert "larq_nobn.optimizers" in GRAPH["larq_nobn"]
    assert any(module.startswith("larq_nobn.zoo.") for module in GRAPH["larq_nobn.zoo"])


def test_no_import_cycles():
    found = cycles(GRAPH)
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)
