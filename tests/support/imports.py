"""What a module of bot/ imports, read from its source (for the tests that keep the shape)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported(path: Path, *, runtime_only: bool = False) -> set[str]:
    """Every name a file imports, at any depth: `import a.b` gives a.b, `from a import b` gives
    a and a.b; relative imports are made absolute. `runtime_only`: without the imports under
    `if TYPE_CHECKING:`."""
    parts = list(path.resolve().relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1]  # a module's package; an __init__'s package is its own folder
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if runtime_only and _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                anchor = package[: len(package) - child.level + 1] if child.level else []
                base = ".".join([*anchor, *([child.module] if child.module else [])])
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return found
