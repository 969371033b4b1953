"""The shape issue 13 asked for, kept: no import cycle in bot/, no module over 400 lines, every
module says what it is for. (Only bot/config.py reads the environment: tests/test_config.py;
the call core does no I/O: tests/call/test_core_is_sans_io.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.imports import imported

BOT = Path(__file__).resolve().parents[1] / "bot"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in BOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(BOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The bot modules this one imports when run (imports under TYPE_CHECKING excluded)."""
    return {m for m in imported(path, runtime_only=True) if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    # A package's __init__ is not a dependency of its own modules' import lines.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    return graph


def test_no_import_cycle_among_bot_modules() -> None:
    assert _cycles(_graph()) == []


def test_no_import_cycle_among_bot_packages() -> None:
    """Packages (bot.call, bot.store, …) depend on each other one way only."""
    graph = _graph()
    packages: dict[str, set[str]] = {}
    for name, deps in graph.items():
        parts = name.split(".")
        pkg = ".".join(parts[:2]) if len(parts) > 1 else name
        packages.setdefault(pkg, set())
        for dep in deps:
            dparts = dep.split(".")
            dpkg = ".".join(dparts[:2]) if len(dparts) > 1 else dep
            if dpkg != pkg:
                packages[pkg].add(dpkg)
    for pkg in list(packages):
        packages[pkg] = {d for d in packages[pkg] if d in packages}
    assert _cycles(packages) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(BOT.parent)): n
        for p in _modules().values()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_module_says_what_it_is_for() -> None:
    silent = [
        str(p.relative_to(BOT.parent))
        for p in _modules().values()
        if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert silent == []
