"""Polling until a condition holds, with a timeout message that names the condition."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


def describe_predicate(predicate: Callable[[], Any]) -> str:
    """The predicate's source if it can be found (a lambda in a test), else its name."""
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return getattr(predicate, "__qualname__", repr(predicate))


async def poll(
    predicate: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109
    what: str | None,
    state: Callable[[], str],
) -> None:
    """Check `predicate` every 5 ms; TimeoutError naming it, followed by state()."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            raise TimeoutError(
                f"not true within {timeout}s: {what or describe_predicate(predicate)}{state()}"
            )
        await asyncio.sleep(0.005)
