"""How each recent call's stream ended, kept for the <Connect action> request that follows it."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import structlog

from bot.timeouts import within

log = structlog.get_logger(__name__)


class OutcomeLedger(Protocol):
    """Where every replica records and looks up call outcomes (bot.store.shared.SharedState)."""

    async def record_outcome(self, call_sid: str, reason: str, instance: str | None) -> None: ...

    async def outcome(self, call_sid: str) -> str | None: ...


class Outcomes:
    """How each recent call's stream ended, for the <Connect action> request that follows.

    The database (`shared`) is the truth, so any replica answers; this replica's own ends are
    also kept in memory, as a fast path and for when the database cannot be reached.
    """

    def __init__(
        self, size: int = 2000, shared: OutcomeLedger | None = None, timeout_s: float = 2.0
    ) -> None:
        self._size = size
        self._items: OrderedDict[str, str] = OrderedDict()
        self.shared = shared
        self.timeout_s = timeout_s

    async def record(self, call_sid: str, reason: str, instance: str | None = None) -> None:
        """Remember how this call ended, here and (bounded in time) in the database."""
        self._items[call_sid] = reason
        self._items.move_to_end(call_sid)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        if self.shared is None:
            return
        try:
            await within(self.shared.record_outcome(call_sid, reason, instance), self.timeout_s)
        except Exception as exc:  # only this replica can answer the action request now
            log.error("outcome.store_failed", call_sid=call_sid, reason=reason,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    async def take(self, call_sid: str) -> str | None:
        """How the call ended, recorded by this replica or any other; None if unknown."""
        local = self._items.pop(call_sid, None)
        if local is not None or self.shared is None:
            return local
        try:
            return await within(self.shared.outcome(call_sid), self.timeout_s)
        except Exception as exc:  # unknown: no apology (logged so ops can tell)
            log.error("outcome.lookup_failed", call_sid=call_sid,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            return None

    def get(self, call_sid: str) -> str | None:
        """This replica's record of the call's end (not yet taken by its action request)."""
        return self._items.get(call_sid)
