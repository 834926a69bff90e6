"""The architecture as a test: helper/ is a few subpackages in layers whose imports only go down,
dataset/, models/ and distiller_zoo/ import only helper's foundation, and no script imports another.

Every .py of the repository is parsed (imports inside functions included); each import becomes an
edge between nodes: helper's immediate children, dataset, models, distiller_zoo, and each script
(a top-level .py, or scripts/*.py). tests/ are not nodes: they may import anything."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("dataset", "models", "distiller_zoo")
MAX_HELPER_CHILDREN = 8

# Which node may import which (beside itself): the layers, lowest first, stated once.
_CORE = {"helper.core"}
_DATA = _CORE | {"helper.data", "dataset"}
_STORAGE = _CORE | {"helper.storage", "models"}
_ENGINE = _DATA | _STORAGE | {"helper.augment", "helper.engine", "distiller_zoo"}
_GOODNESS = _ENGINE | {"helper.goodness"}
_TUNING = _GOODNESS | {"helper.tuning"}
ALLOWED = {
    "helper.core": set(),
    "dataset": _CORE,
    "models": _CORE,
    "distiller_zoo": _CORE | {"models"},
    "helper.data": _DATA,
    "helper.augment": _CORE,
    "helper.storage": _STORAGE,
    "helper.engine": _ENGINE,
    "helper.goodness": _GOODNESS,
    "helper.tuning": _TUNING,
    "helper.cli": _TUNING | {"helper.cli"},
}
SCRIPT = "script"  # scripts may import any node that is not a script


def python_files():
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "__")) and d != "tests")
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(folder, name), ROOT)


def node_of_file(path):
    """The node a repository file belongs to, or None (not part of the graph)."""
    parts = path[:-len(".py")].split(os.sep)
    if len(parts) == 1:
        return f"script:{parts[0]}"
    if parts[0] == "scripts" and len(parts) == 2:
        return f"script:scripts/{parts[1]}"
    if parts[0] in PACKAGES:
        return parts[0]
    if parts[0] == "helper":
        return "helper" if len(parts) == 2 and parts[1] == "__init__" else f"helper.{parts[1]}"
    return None


def node_of_module(module, importer_path, scripts):
    """The node an absolute module name (or a script's name) belongs to, or None (third-party)."""
    parts = module.split(".")
    if parts[0] == "helper":
        return f"helper.{parts[1]}" if len(parts) > 1 else "helper"
    if parts[0] in PACKAGES:
        return parts[0]
    if len(parts) == 1:  # a script imported by name, from the top level or from scripts/ beside it
        folder = os.path.dirname(importer_path)
        for candidate in (os.path.join(folder, module), module):
            if candidate in scripts:
                return f"script:{candidate}"
    return None


def imported_modules(path):
    """Absolute module names a file imports, anywhere in it; relative imports resolved."""
    tree = ast.parse(open(os.path.join(ROOT, path)).read(), path)
    package = os.path.dirname(path).replace(os.sep, ".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            else:
                yield node.module


def import_graph():
    """{node: {imported nodes}} of the repository (self-edges left out)."""
    files = list(python_files())
    scripts = {p[:-len(".py")] for p in files if (node_of_file(p) or "").startswith("script:")}
    graph = {}
    for path in files:
        source = node_of_file(path)
        if source is None:
            continue
        edges = graph.setdefault(source, set())
        for module in imported_modules(path):
            target = node_of_module(module, path, scripts)
            if target is not None and target != source:
                edges.add(target)
    return graph


def find_cycle(graph):
    """A list of nodes forming a cycle, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def forbidden_edges(graph):
    """Edges the layering does not allow: an import upwards, into a script, or from an unknown node."""
    bad = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target.startswith("script:"):
                bad.append((source, target))
            elif source.startswith("script:"):
                continue
            elif target not in ALLOWED.get(source, ()):
                bad.append((source, target))
    return bad


def helper_children():
    helper = os.path.join(ROOT, "helper")
    return sorted(name for name in os.listdir(helper)
                  if not name.startswith("__") and (name.endswith(".py") or os.path.isdir(os.path.join(helper, name))))


def test_helper_has_at_most_eight_children_all_layered():
    children = helper_children()
    assert len(children) <= MAX_HELPER_CHILDREN, children
    assert {f"helper.{c}" for c in children} <= set(ALLOWED), "a child of helper/ that the layering does not place"


def test_the_repository_imports_only_downwards_without_cycles():
    graph = import_graph()
    assert "script:train_student" in graph and "helper.engine" in graph["script:train_student"]  # the parse sees them
    assert find_cycle(graph) is None, find_cycle(graph)
    assert forbidden_edges(graph) == []


def test_no_module_of_helper_imports_its_own_package_in_a_cycle():
    """Within a subpackage too: the modules of helper/ form no import cycle (imports in functions included)."""
    graph = {}
    for path in python_files():
        if not path.startswith("helper" + os.sep):
            continue
        module = path[:-len(".py")].replace(os.sep, ".").removesuffix(".__init__")
        graph[module] = {m for m in imported_modules(path) if m.startswith("helper.") and m != module}
    for module, targets in graph.items():  # `from helper.x import name` names module helper.x
        graph[module] = {t if t in graph else t.rsplit(".", 1)[0] for t in targets} - {module}
    packages = {m for m in graph if os.path.isdir(os.path.join(ROOT, *m.split(".")))}
    # a package's __init__ re-exports its modules: an edge into it is not a cycle through its members
    assert find_cycle({m: t for m, t in graph.items() if m not in packages}) is None


@pytest.mark.parametrize("graph, expected", [
    ({"helper.core": {"helper.engine"}, "helper.engine": {"helper.core"}}, [("helper.core", "helper.engine")]),
    ({"dataset": {"helper.data"}}, [("dataset", "helper.data")]),
    ({"distiller_zoo": {"helper.engine"}}, [("distiller_zoo", "helper.engine")]),
    ({"helper.augment": {"helper.data"}}, [("helper.augment", "helper.data")]),
    ({"script:tune_da": {"script:eval_da_goodness"}}, [("script:tune_da", "script:eval_da_goodness")]),
    ({"helper.cli": {"helper.tuning", "dataset"}, "script:train_student": {"helper.cli"}}, []),
])
def test_the_checks_catch_a_forbidden_edge(graph, expected):
    assert forbidden_edges(graph) == expected


def test_the_checks_catch_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_the_parse_sees_imports_inside_functions(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "ROOT", str(tmp_path))
    (tmp_path / "helper" / "core").mkdir(parents=True)
    (tmp_path / "helper" / "core" / "x.py").write_text("def f():\n    from helper.cli.script import run_main\n")
    (tmp_path / "a.py").write_text("import os\n")
    (tmp_path / "b.py").write_text("def main():\n    import a\n")
    graph = import_graph()
    assert graph["helper.core"] == {"helper.cli"} and graph["script:b"] == {"script:a"}
    assert forbidden_edges(graph) == [("helper.core", "helper.cli"), ("script:b", "script:a")]
