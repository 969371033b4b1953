"""bot.timeouts.within: a deadline that raises TimeoutError and never swallows a cancel."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.timeouts import within

BOT = Path(__file__).resolve().parent.parent / "bot"


async def test_within_returns_the_result_and_raises_timeouterror_when_late() -> None:
    assert await within(asyncio.sleep(0, "done"), 1.0) == "done"
    assert await within(asyncio.sleep(0, "no limit"), None) == "no limit"
    with pytest.raises(TimeoutError):
        await within(asyncio.sleep(5), 0.01)


async def _cancel_as_it_finishes(wait: Callable[[Awaitable[Any]], Awaitable[Any]]) -> Any:
    """Cancel a task in the same turn of the loop in which what it waits for finishes (a
    call ending just as a database answer or a handshake arrives)."""
    fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(wait(fut))
    await asyncio.sleep(0)  # the task is waiting now
    fut.set_result("answer")
    task.cancel()
    return await task


async def test_a_cancel_that_meets_the_result_is_a_cancel() -> None:
    with pytest.raises(asyncio.CancelledError):
        await _cancel_as_it_finishes(lambda aw: within(aw, 5.0))


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for was rebuilt on timeout in 3.12")
async def test_asyncio_wait_for_swallows_that_cancel_on_311() -> None:
    """Why `within` exists: here asyncio.wait_for hands back the result instead."""
    assert await _cancel_as_it_finishes(lambda aw: asyncio.wait_for(aw, 5.0)) == "answer"


def test_the_bot_waits_with_within_not_wait_for() -> None:
    """Only a wait on asyncio.shield (a task that must outlive the wait) may use wait_for."""
    found = [
        f"{path.relative_to(BOT.parent)}:{n}"
        for path in sorted(BOT.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"asyncio\.wait_for\((?!asyncio\.shield\()", line)
    ]
    assert not found, f"use bot.timeouts.within instead of asyncio.wait_for: {found}"
