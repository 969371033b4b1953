"""A call record's writes as data (operation + fields), applied to the store and retried."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy.exc as sa_exc

# What the recorder writes, by the Store method that writes it.
OPS = frozenset({
    "call_started", "call_updated", "copy_answered_at", "add_turn", "turn_cut_off",
    "add_assessment", "call_ended", "call_resumed",
})  # fmt: skip
# Top-level fields that are datetimes (ISO 8601 strings in a journal).
DATETIME_FIELDS = frozenset({"started_at", "answered_at", "ended_at", "at"})
RETRY_FIRST_S, RETRY_CAP_S = 0.2, 5.0  # a write's retries: 0.2 s doubling to 5 s, jittered
WRITE_TIMEOUT_S = 10.0  # one attempt; a database that neither answers nor refuses is down


class BadWrite(ValueError):
    """A journal line that is not a write this version knows."""


@dataclass(frozen=True)
class Write:
    """One write of a call's record: the Store method's name and its keyword fields."""

    op: str
    call_sid: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 strings."""
        fields = {
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in self.fields.items()
        }
        return {"op": self.op, "call_sid": self.call_sid, "fields": fields}

    @classmethod
    def from_json(cls, data: Any) -> Write:
        """The write a journal line holds; BadWrite if it is not one."""
        if not isinstance(data, dict):
            raise BadWrite("not an object")
        op, sid, fields = data.get("op"), data.get("call_sid"), data.get("fields")
        if op not in OPS or not isinstance(sid, str) or not sid or not isinstance(fields, dict):
            raise BadWrite(f"not a record write: op={op!r}")
        decoded = dict(fields)
        for name in DATETIME_FIELDS & decoded.keys():
            if decoded[name] is not None:
                try:
                    decoded[name] = datetime.fromisoformat(decoded[name])
                except (TypeError, ValueError):
                    raise BadWrite(f"{op}.{name}: not an ISO 8601 time") from None
        return cls(op, sid, decoded)


async def apply(store: Any, write: Write) -> None:
    """Write it (bounded by WRITE_TIMEOUT_S). Every operation is idempotent, so a write that
    was applied before its answer was lost can be applied again."""
    async with asyncio.timeout(WRITE_TIMEOUT_S):
        if write.op == "call_started":
            await store.call_started(call_sid=write.call_sid, **write.fields)
        elif write.op == "copy_answered_at":
            copy = getattr(store, "copy_answered_at", None)
            if copy is not None:
                await copy(write.call_sid)
        else:
            await getattr(store, write.op)(write.call_sid, **write.fields)


# SQLSTATE classes of a server that is going away or full: connection exception, insufficient
# resources (too many connections), operator intervention (admin shutdown, starting up).
UNAVAILABLE_SQLSTATES = ("08", "53", "57")


def _causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(found) < 8:
        e = todo.pop(0)
        if e is None or any(e is f for f in found):
            continue
        found.append(e)
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return found


def unavailable(exc: BaseException) -> bool:
    """The database did not answer (refused, dropped, timed out, read-only): try again later.
    Anything else (a bad value, an unknown call, a bug) would fail the same way again."""
    for e in _causes(exc):
        if isinstance(e, (OSError, TimeoutError, sa_exc.TimeoutError)):
            return True
        if isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str) and state[:2] in UNAVAILABLE_SQLSTATES:
            return True
        kind = type(e)  # asyncpg's own errors when a connection closes under it
        if kind.__module__.startswith("asyncpg") and "Connection" in kind.__name__:
            return True
    return False


class Backoff:
    """Delays that double from `first` to `cap`, with jitter (±20 %)."""

    def __init__(self, first: float | None = None, cap: float | None = None) -> None:
        self.first = RETRY_FIRST_S if first is None else first
        self.cap = RETRY_CAP_S if cap is None else cap
        self.failures = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self.failures)
        self.failures += 1
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures = 0
