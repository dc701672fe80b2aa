"""The package's import graph (every import, at module level or inside a function): no
circle, and nothing that persists models knows the detector (issue #38)."""

from __future__ import annotations

import ast
from pathlib import Path

import memae

SRC = Path(memae.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join((base if node.level else []) + [node.module or ""]).strip(".")
                subs = {f"{module}.{a.name}" for a in node.names} & mods.keys()
                deps |= subs
                if len(subs) < len(node.names) and module in mods:
                    deps.add(module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names} & mods.keys()
        graph[name] = deps - {name}
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def test_no_import_circle():
    graph = _graph()
    circles = sorted(m for m in graph if m in _reach(graph, m))
    assert not circles, f"modules on an import circle: {circles}"


def test_persistence_knows_no_detector():
    graph = _graph()
    for name in [m for m in graph if m.startswith("memae.persist")]:
        assert "memae.detector" not in _reach(graph, name), name
