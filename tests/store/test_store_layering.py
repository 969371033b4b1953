"""The store's layering: only the call-log store writes the call log, the interview rules are pure,
and neither the store nor the rules import the scheduling package (which imports the store).

The one exception to the first rule is bot/store/redact.py: retention and erasure erase the
personal columns that bot/store/personal.py lists, in every table (tests/store/test_personal.py
keeps that list complete), through the registry rather than by naming a table here."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.imports import imported

BOT = Path(__file__).resolve().parents[2] / "bot"
CALL_LOG_TABLES = {"calls", "call_turns", "call_assessments"}
RULES = ("lifecycle", "decisions", "outcomes", "schedule")  # bot/interview/<name>.py
IO = {"sqlalchemy", "asyncio", "structlog", "socket", "httpx", "os", "aiosqlite", "asyncpg"}


def writes_to(path: Path) -> set[str]:
    """The call-log tables a file passes to sa.insert/update/delete, or calls .insert() etc. on."""
    written: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        verb, owner = node.func.attr, node.func.value
        if verb not in ("insert", "update", "delete"):
            continue
        if isinstance(owner, ast.Name) and owner.id in CALL_LOG_TABLES:  # calls.update()
            written.add(owner.id)
        for arg in node.args:  # sa.update(calls), postgresql.insert(calls)
            if isinstance(arg, ast.Name) and arg.id in CALL_LOG_TABLES:
                written.add(arg.id)
    return written


def test_only_the_call_log_store_writes_the_call_log() -> None:
    writers = {
        str(path.relative_to(BOT.parent)): tables
        for path in sorted(BOT.rglob("*.py"))
        if (tables := writes_to(path))
    }
    assert writers == {"bot/store/store.py": CALL_LOG_TABLES}


def test_the_store_does_not_import_scheduling() -> None:
    for path in sorted((BOT / "store").rglob("*.py")):
        wrong = sorted(name for name in imported(path) if name.startswith("bot.scheduling"))
        assert not wrong, f"{path.name} imports {wrong}"


def test_the_interview_rules_are_pure() -> None:
    allowed = {f"bot.interview.{name}" for name in RULES}
    for name in RULES:
        for module in imported(BOT / "interview" / f"{name}.py"):
            root = module.split(".")[0]
            assert root not in IO, f"bot/interview/{name}.py imports {module}"
            if root == "bot":
                assert allowed & {module, module.rsplit(".", 1)[0]}, f"{name}.py imports {module}"
