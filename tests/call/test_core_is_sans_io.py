"""The call core does no I/O: no asyncio, no clock, no sockets in any of its modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import imported

CORE = ["core", "responses", "ending", "failures", "interrupt", "session", "tooling",
        "inputs", "commands", "limits", "playout"]  # fmt: skip
FORBIDDEN = {"asyncio", "time", "socket", "websockets", "starlette", "datetime"}
CALL = Path(__file__).parents[2] / "bot" / "call"


@pytest.mark.parametrize("name", CORE)
def test_a_core_module_imports_no_io(name: str) -> None:
    path = CALL / f"{name}.py"
    roots = {module.split(".")[0] for module in imported(path)}
    assert not roots & FORBIDDEN, f"bot/call/{name}.py imports {roots & FORBIDDEN}"
    assert "monotonic" not in path.read_text()
