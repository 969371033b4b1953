"""The shell's ticker ends with its call, even when a cancel meets a wake-up (Python 3.11's
asyncio.wait_for swallows such a cancel; the call then hung until the server stopped)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from bot.call.bridge import Call


async def test_a_tick_loop_cancelled_as_it_is_woken_ends() -> None:
    fed: list[object] = []
    shell = SimpleNamespace(
        core=SimpleNamespace(next_deadline=lambda: time.monotonic() + 10),  # a deadline ahead
        tick_wake=asyncio.Event(),
        tick_at=None,
        model=None,
        _feed=fed.append,
    )
    task = asyncio.create_task(Call._tick(shell))  # type: ignore[arg-type]
    for _ in range(3):
        await asyncio.sleep(0)  # the loop waits for a wake-up
    shell.tick_wake.set()  # a wake-up (a feed) ...
    await asyncio.sleep(0)
    task.cancel()  # ... and the call ends in the same instant
    done, _ = await asyncio.wait([task], timeout=1.0)
    assert done, "the ticker outlived its call"
    assert task.cancelled()
