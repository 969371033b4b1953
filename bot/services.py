"""What every call shares: settings, stream tokens, pre-opened model sessions, outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from bot.config import Settings
from bot.interview.context import InterviewContext, InterviewDirectory
from bot.interview.profiles import Profile, load_profiles
from bot.metrics import Metrics
from bot.twilio.webhooks import StreamTokens
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable

log = structlog.get_logger(__name__)

Opener = Callable[[InterviewContext], Awaitable[VoiceLiveConnection]]


class SessionOpener:
    """Opens Voice Live sessions ahead of the media stream (from the voice webhook).

    Each session is configured for its interview (the context's profile and candidate).
    A session opened for a CallSid waits at most `ttl_s` for its stream; then it is closed.
    At most `max_pending` wait at once; past that, calls simply open theirs on arrival.
    """

    def __init__(self, open_session: Opener, ttl_s: float = 30.0, max_pending: int = 200) -> None:
        self._open = open_session
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self._pending: dict[str, tuple[asyncio.Task[VoiceLiveConnection], asyncio.TimerHandle]] = {}
        self._discarding: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._pending)

    async def open(self, context: InterviewContext) -> VoiceLiveConnection:
        """A fresh session for this interview (also to reconnect). Raises VoiceLiveUnavailable."""
        return await self._open(context)

    def prepare(self, call_sid: str, context: InterviewContext) -> None:
        """Start opening a session for this call now."""
        if call_sid in self._pending or len(self._pending) >= self.max_pending:
            return
        task = asyncio.create_task(self._open(context), name=f"preopen:{call_sid[-6:]}")
        task.add_done_callback(_quiet)
        timer = asyncio.get_running_loop().call_later(self.ttl_s, self._expire, call_sid)
        self._pending[call_sid] = (task, timer)

    async def take(self, call_sid: str, context: InterviewContext) -> VoiceLiveConnection:
        """The session prepared for this call, or a fresh one. Raises VoiceLiveUnavailable."""
        entry = self._pending.pop(call_sid, None)
        if entry is None:
            return await self._open(context)
        task, timer = entry
        timer.cancel()
        try:
            conn = await task
        except VoiceLiveUnavailable as exc:
            if not exc.retryable:
                raise
            # The early attempt failed; the caller is on the line now, so try once more.
            log.warning("voicelive.preopen_failed", reason=str(exc))
            return await self._open(context)
        if conn.close_code is not None:  # the service closed it while it waited
            log.warning("voicelive.preopened_session_closed", code=conn.close_code)
            return await self._open(context)
        log.info("voicelive.preopened_session_used")
        return conn

    def _expire(self, call_sid: str) -> None:
        entry = self._pending.pop(call_sid, None)
        if entry is not None:
            log.info("voicelive.preopened_session_expired", call_sid=call_sid)
            task = asyncio.create_task(_discard(entry[0]))
            self._discarding.add(task)  # keep a reference until it is done
            task.add_done_callback(self._discarding.discard)

    async def close(self) -> None:
        """Close every session still waiting for its stream."""
        entries = list(self._pending.values())
        self._pending.clear()
        for _task, timer in entries:
            timer.cancel()
        await asyncio.gather(*(_discard(task) for task, _ in entries), return_exceptions=True)


def _quiet(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved; the taker (or nobody) handles it


async def _discard(task: asyncio.Task[VoiceLiveConnection]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, VoiceLiveUnavailable, Exception):
        conn = await task
        await asyncio.wait_for(conn.close(), 2.0)


class Outcomes:
    """How each recent call's stream ended, for the <Connect action> request that follows.

    The database (`shared`, a bot.store.shared.SharedState) is the truth, so any replica
    answers; this replica's own ends are also kept in memory, as a fast path and for when the
    database cannot be reached.
    """

    def __init__(self, size: int = 2000, shared: Any = None, timeout_s: float = 2.0) -> None:
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
            await asyncio.wait_for(
                self.shared.record_outcome(call_sid, reason, instance), self.timeout_s
            )
        except Exception as exc:  # only this replica can answer the action request now
            log.error("outcome.store_failed", call_sid=call_sid, reason=reason,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    async def take(self, call_sid: str) -> str | None:
        """How the call ended, recorded by this replica or any other; None if unknown."""
        local = self._items.pop(call_sid, None)
        if local is not None or self.shared is None:
            return local
        try:
            return await asyncio.wait_for(self.shared.outcome(call_sid), self.timeout_s)
        except Exception as exc:  # unknown: no apology (logged so ops can tell)
            log.error("outcome.lookup_failed", call_sid=call_sid,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            return None

    def get(self, call_sid: str) -> str | None:
        """This replica's record of the call's end (not yet taken by its action request)."""
        return self._items.get(call_sid)


@dataclass
class Services:
    """Shared by every request and call of one process."""

    settings: Settings
    tokens: StreamTokens
    sessions: SessionOpener
    metrics: Metrics = field(default_factory=Metrics)
    store: Any = None  # bot.store.Store once opened; None writes no call records
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    silence_duration_ms: int = 500  # the session's turn_detection.silence_duration_ms
    outcomes: Outcomes = field(default_factory=Outcomes)
    active: set[Any] = field(default_factory=set)
    profiles: dict[str, Profile] = field(default_factory=dict)  # empty: loaded from PROFILES_DIR
    directory: InterviewDirectory | None = None  # scheduled interviews, for the code gate
    code_limits: Any = None  # bot.interview.code_limits.CodeLimits once the store is open
    draining: bool = False  # set on SIGTERM (bot/drain.py): no new calls, no dialing
    interviews: Any = None  # bot.store.interviews.InterviewStore (scheduling) once opened
    dialer: Any = None  # bot.scheduling.dialer.Dialer, only with Twilio REST settings
    twiml: Any = None  # bot.twimldocs.TwimlDocs: what a refused caller hears
    journal: Any = None  # bot.journal.Journal: call records written while the database was down

    @property
    def calls(self) -> int:
        """Calls this replica carries: live ones and those whose stream is on its way."""
        return len(self.active) + len(self.sessions)

    def refusal(self) -> str | None:
        """Why this replica takes no new call now ("draining", "at capacity"), or None."""
        if self.draining:
            return "draining"
        if self.calls >= self.settings.max_concurrent_calls:
            return "at capacity"
        return None

    def __post_init__(self) -> None:
        if not self.profiles:
            self.profiles = load_profiles(self.settings.profiles_dir, self.settings.default_profile)

    def profile_for(self, context: InterviewContext) -> Profile:
        """The profile this interview uses (the default one if the name is unknown)."""
        profile = self.profiles.get(context.profile)
        if profile is None:
            log.warning("interview.unknown_profile", profile=context.profile)
            profile = self.profiles[self.settings.default_profile]
        return profile
