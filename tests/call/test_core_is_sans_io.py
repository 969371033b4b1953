"""The call core does no I/O: no asyncio, no clock, no sockets in any of its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = ["core", "responses", "ending", "failures", "interrupt", "session", "tooling",
        "inputs", "commands", "limits", "playout"]  # fmt: skip
FORBIDDEN = {"asyncio", "time", "socket", "websockets", "starlette", "datetime"}
CALL = Path(__file__).parents[2] / "bot" / "call"


@pytest.mark.parametrize("name", CORE)
def test_a_core_module_imports_no_io(name: str) -> None:
    tree = ast.parse((CALL / f"{name}.py").read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"bot/call/{name}.py imports {imported & FORBIDDEN}"
    assert "monotonic" not in (CALL / f"{name}.py").read_text()
