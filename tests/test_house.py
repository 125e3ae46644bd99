"""The house's rules, read from the source: no import circles inside pilotlens (imports inside
functions count), and argparse only in the command-line room."""
from __future__ import annotations

import ast
from pathlib import Path

import pilotlens

ROOT = Path(pilotlens.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(pilotlens modules imported anywhere in the file, top-level names of other packages imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    ours, theirs = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (ours if alias.name.startswith("pilotlens") else theirs).add(
                    alias.name if alias.name.startswith("pilotlens") else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("pilotlens"):
                for alias in node.names:   # "from . import zoo" imports the module zoo, not the package
                    ours.add(f"{mod}.{alias.name}" if _is_module(f"{mod}.{alias.name}") else mod)
            else:
                theirs.add(mod.split(".")[0])
    return ours, theirs


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        ours, _ = _imports(path)
        edges = set()
        for mod in ours:
            while mod and mod not in files:
                mod = mod.rpartition(".")[0]
            if mod and mod != name:
                edges.add(mod)
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        for mod in list(edges):
            parent = mod.rpartition(".")[0]
            while parent:
                if parent in files and parent != name and not name.startswith(parent + "."):
                    edges.add(parent)
                parent = parent.rpartition(".")[0]
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys
    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_argparse_only_in_the_command_line_room():
    users = sorted(_module_name(p) for p in ROOT.rglob("*.py")
                   if "argparse" in _imports(p)[1] and not _module_name(p).startswith("pilotlens.cli"))
    assert users == []
