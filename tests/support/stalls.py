"""How long the test's event loop stalled while a block ran: the slack a timing check owes a
loaded machine (the fakes and the bot share the loop, so a stall delays what they stamp)."""

from __future__ import annotations

import asyncio
from types import TracebackType

TICK_S = 0.005


class LoopStalls:
    """`async with LoopStalls() as stalls:` samples the loop every 5 ms; `stalls.worst` is the
    longest a sample woke late (seconds), i.e. how far a timestamp taken in the block may lag."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            self.worst = max(self.worst, loop.time() - due)

    async def __aenter__(self) -> LoopStalls:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
