"""A wait with a deadline that never swallows a cancel (asyncio.wait_for on 3.11 can)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], seconds: float | None) -> T:
    """`await aw`, raising TimeoutError after `seconds` (None: no limit).

    In place of asyncio.wait_for, which on Python 3.11 runs a coroutine in a task of its own
    and, when a cancel meets the moment that task finishes, returns its result instead of
    raising: the cancelled call goes on (a ticker outlives its call, a session opened for a
    call that ended is never closed), or an exception is left in a task nobody awaits. Here
    the awaitable runs in the caller's task, under asyncio.timeout, so a cancel is a cancel.
    """
    async with asyncio.timeout(seconds):
        return await aw
