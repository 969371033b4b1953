"""One call's Voice Live session, kept alive: recycled before it expires, reopened after a drop."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import structlog
from websockets.exceptions import ConnectionClosed

from bot.voicelive import events as vl
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from bot.voicelive.stall import PROBE_TIMEOUT_S, Debts, Unconfirmed

log = structlog.get_logger(__name__)

BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)  # after the first attempt, which is immediate
BACKLOG_S = 30.0  # caller audio kept while no session takes it; older audio is dropped
FLUSH_MS = 200  # backlog audio goes out in appends of this length
EXPIRY_MARGIN_S = 300.0  # recycle at least this long before expires_at (a fifth of short TTLs)
SEND_TIMEOUT_S = 2.0  # a send that takes longer means a dead path: the session counts as dropped
HANDOVER_S = 2.0  # after a switch the old session is kept this long for the caller's last words
SWITCH_WAIT_S = 120.0  # a recycle waits this long for a turn boundary, then gives up for now
WATCH_TICK_S = 0.1  # how often the session's debts are looked at


@dataclass(frozen=True, slots=True)
class Resumed:
    """A new session took over: planned (a recycle) or not (a drop); what caused it, how long."""

    planned: bool
    cause: str
    took_ms: float
    attempts: int
    backlog_ms: float
    dropped_ms: float
    replayed: tuple[str, ...] = ()  # the events the new session got before the caller's audio


@dataclass(frozen=True, slots=True)
class Handover:
    """The caller's words, transcribed by a session after the call had switched away from it."""

    item_id: str
    text: str


Event = vl.ServerEvent | Resumed
Opener = Callable[[], Awaitable[VoiceLiveConnection]]
Replay = Callable[[bool], list[str]]


class SessionKeeper:
    """Stands in for the call's VoiceLiveConnection across sessions.

    `send` and `send_audio` go to the current session; while there is none (a reconnect or a
    switch in progress) caller audio waits in a bounded backlog and is sent, in order, to the
    next session; other events are dropped (they belong to the old session's items). `events`
    yields the current session's events and, when a session ends, reconnects on its own and
    yields a `Resumed`. A new session first gets `replay(planned)` (instructions are already
    set by the opener): the conversation so far and the remaining time. A session that owes
    us something for too long and does not answer a ping is aborted as stalled, and the caller
    audio sent since its last event goes to the next one as well (bot/voicelive/stall.py).
    """

    def __init__(
        self,
        conn: VoiceLiveConnection,
        open_session: Opener,
        *,
        replay: Replay,
        can_switch: Callable[[], bool],
        bytes_per_ms: float,
        recycle_after_s: float,
        reconnect_budget_s: float,
    ) -> None:
        self._conn = conn
        self._open = open_session
        self._replay = replay
        self._can_switch = can_switch
        self._bytes_per_ms = bytes_per_ms
        self.recycle_after_s = recycle_after_s
        self.reconnect_budget_s = reconnect_budget_s
        self._ready = True
        self._closing = False
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._max_backlog = int(BACKLOG_S * 1000 * bytes_per_ms)
        self._ulaw = bytes_per_ms == 8  # the bot appends μ-law (8 kHz) or PCM16 (24 kHz)
        self._debts = Debts(time.monotonic(), ulaw=self._ulaw)
        self._unconfirmed = Unconfirmed(self._max_backlog)  # sent since the last sign of life
        self._watcher: asyncio.Task[None] | None = None
        self.probes = 0  # probes answered (the session was only quiet)
        self._dropped_bytes = 0
        self._audio_ms_in = 0.0  # caller audio handed to us, all sessions together
        self.offset_ms = 0.0  # where the current session's audio starts in the caller's audio
        self._session_started = time.monotonic()
        self._recycle_at = self._session_started + recycle_after_s
        self._recycler: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[tuple[VoiceLiveConnection | None, Event | None]] = (
            asyncio.Queue()
        )
        self._readers: dict[VoiceLiveConnection, asyncio.Task[None]] = {}
        self._closers: set[asyncio.Task[None]] = set()
        self._ended: weakref.WeakSet[VoiceLiveConnection] = weakref.WeakSet()
        self._stalls: weakref.WeakSet[VoiceLiveConnection] = weakref.WeakSet()  # given up on
        self._cause: str | None = None
        self._replayed: tuple[str, ...] = ()
        self.resumes = 0
        self.gave_up: str | None = None

    # ---- what the call sends ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready

    async def send(self, text: str) -> bool:
        """Send one event to the current session; False if there is none right now."""
        if not self._ready:
            log.info("voicelive.send_dropped", reason="reconnecting", what=text[:60])
            return False
        conn = self._conn
        try:
            await _send(conn, text)
        except ConnectionClosed:
            self._ready = False  # events() sees the close and reconnects
            return False
        except TimeoutError:
            self._stalled(conn, f"send stalled for {SEND_TIMEOUT_S:g} s")
            return False
        if conn is self._conn:
            self._debts.sent_event(text, time.monotonic())
        return True

    async def send_audio(self, audio: bytes) -> None:
        """Caller audio: to the current session, or into the backlog until the next one."""
        self._audio_ms_in += len(audio) / self._bytes_per_ms
        if self._ready:
            conn = self._conn
            try:
                await _send(conn, vl.append_audio(audio))
            except ConnectionClosed:
                self._ready = False
            except TimeoutError:  # it may not have gone out: the next session gets it
                self._stalled(conn, f"send stalled for {SEND_TIMEOUT_S:g} s")
            else:
                if conn is self._conn and self._ready:
                    self._unconfirmed.add(audio)
                    self._debts.sent_audio(audio, time.monotonic())
                elif conn in self._stalls:  # it stalled meanwhile: resent with the rest
                    self._keep(audio)
                return
        self._keep(audio)

    def _stalled(self, conn: VoiceLiveConnection, cause: str) -> None:
        """The current session took a send too long or missed a probe: drop it at once (no
        close handshake) and resend to the next session all caller audio since its last sign
        of life, which it may have swallowed."""
        if conn is not self._conn or not self._ready:
            return
        self._ready = False
        self._cause = cause
        self._stalls.add(conn)
        resent = self._unconfirmed.bytes / self._bytes_per_ms
        log.warning("voicelive.send_stalled" if cause.startswith("send") else "voicelive.stalled",
                    cause=cause, resend_ms=round(resent, 1),
                    silent_ms=round((time.monotonic() - self._debts.heard_at) * 1000))  # fmt: skip
        for chunk in reversed(self._unconfirmed.take()):
            self._backlog.appendleft(chunk)
            self._backlog_bytes += len(chunk)
        self._trim()
        self._abandon(conn)
        self._queue.put_nowait((conn, None))  # its end, as far as the call is concerned

    def _abandon(self, conn: VoiceLiveConnection) -> None:
        """Stop reading a session given up on and drop its connection at once (it may not
        answer a close handshake); the close that follows in the background is a formality."""
        conn.abort()
        reader = self._readers.pop(conn, None)
        if reader is not None:
            reader.cancel()
        task = asyncio.create_task(_close(conn), name="voicelive_close")
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _keep(self, audio: bytes) -> None:
        self._backlog.append(audio)
        self._backlog_bytes += len(audio)
        self._trim()

    def _trim(self) -> None:
        while self._backlog_bytes > self._max_backlog:
            old = self._backlog.popleft()
            self._backlog_bytes -= len(old)
            if not self._dropped_bytes:
                log.error("voicelive.backlog_full", kept_s=BACKLOG_S)
            self._dropped_bytes += len(old)

    @property
    def backlog_ms(self) -> float:
        return self._backlog_bytes / self._bytes_per_ms

    # ---- what the call reads ------------------------------------------------------------------

    async def events(self) -> AsyncIterator[vl.ServerEvent | Resumed | Handover]:
        """Events of the current session; across a recycle or a drop, a `Resumed` in between.

        Each session is read by its own task into one queue, so a session switched away from
        can still hand over the caller's words while the new one is already being read.
        Ends when the keeper is closed or a reconnect gives up (`gave_up` says why).
        """
        self._read(self._conn)
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="voicelive_watch")
            self._watcher.add_done_callback(_watch_ended)
        try:
            while True:
                conn, event = await self._queue.get()
                if isinstance(event, Resumed):  # a recycle switched sessions
                    yield event
                elif event is None:  # that session's events ended
                    if conn is not self._conn:  # an old one, closed after a switch
                        continue
                    if self._closing:
                        return
                    cause = self._cause or f"closed {conn.close_code} {conn.close_reason}"
                    self._cause = None
                    try:
                        resumed = await self._reconnect(cause.strip())
                    except VoiceLiveUnavailable as exc:
                        self.gave_up = str(exc)
                        log.error("voicelive.reconnect_failed", cause=cause, reason=str(exc))
                        return
                    self._read(self._conn)
                    yield resumed
                elif conn is not self._conn:  # switched away: only the caller's words count
                    if isinstance(event, vl.Transcript) and event.role == "user":
                        yield Handover(event.item_id, event.text)
                else:
                    expired = isinstance(event, vl.ServerError) and event.code == "session_expired"
                    if expired:
                        self._ready = False  # about to close: keep the audio for the next one
                        self._cause = "session_expired"
                    elif isinstance(event, vl.SessionReady) and event.type == "session.created":
                        self._expires(event.expires_at)
                    yield event
                    if expired:  # do not wait for the service to close it (or not)
                        await _close(conn)
        finally:
            for task in list(self._readers.values()):
                task.cancel()
            if self._watcher is not None:
                self._watcher.cancel()

    def _read(self, conn: VoiceLiveConnection) -> None:
        """Start reading a session's events into the queue; None marks their end."""

        async def read() -> None:
            try:
                async for event in conn.events():
                    if conn is self._conn:  # a sign of life: what it got so far is not resent
                        self._debts.received(event, time.monotonic())
                        self._unconfirmed.clear()
                    self._queue.put_nowait((conn, event))
            finally:
                self._ended.add(conn)
                self._queue.put_nowait((conn, None))

        task = asyncio.create_task(read(), name="voicelive_reader")
        self._readers[conn] = task
        task.add_done_callback(lambda _: self._readers.pop(conn, None))

    # ---- finding a stalled session -----------------------------------------------------------

    async def _watch(self) -> None:
        """Probe the current session when a debt is overdue; no pong in time means it stalled."""
        while True:
            await asyncio.sleep(WATCH_TICK_S)
            conn = self._conn
            owed = self._debts.overdue(time.monotonic())
            if owed is None or not self._ready or self._closing:
                continue
            what, owed_s = owed
            try:
                answered = await conn.probe(PROBE_TIMEOUT_S)
            except ConnectionClosed:
                continue  # a close: the reader reports it and a reconnect follows
            if answered:
                self.probes += 1
                self._debts.answered(time.monotonic())
                log.debug("voicelive.probe_answered", owed=what, owed_ms=round(owed_s * 1000))
                continue
            owed_s += PROBE_TIMEOUT_S
            log.warning("voicelive.probe_failed", owed=what, owed_ms=round(owed_s * 1000),
                        timeout_s=PROBE_TIMEOUT_S)  # fmt: skip
            self._stalled(conn, f"stalled: {what} owed for {owed_s:.1f} s, no pong")

    # ---- recycling before expiry --------------------------------------------------------------

    def _expires(self, expires_at: int | None) -> None:
        """Recycle well before the service's own deadline, if it gave one."""
        if expires_at is None:
            return
        lifetime = expires_at - time.time()
        margin = min(EXPIRY_MARGIN_S, max(lifetime, 0.0) / 5)
        at = time.monotonic() + max(lifetime - margin, 0.0)
        self._recycle_at = min(self._recycle_at, at)
        log.info("voicelive.session_expiry", expires_in_s=round(lifetime), recycle_in_s=round(
            self._recycle_at - time.monotonic()))  # fmt: skip

    def boundary(self) -> None:
        """A turn boundary: if this session is due for a recycle, start one (in the background)."""
        if self._closing or self._recycler is not None or not self._ready:
            return
        if time.monotonic() < self._recycle_at:
            return
        self._recycler = asyncio.create_task(self._recycle(), name="voicelive_recycle")
        self._recycler.add_done_callback(self._recycled)

    def _recycled(self, task: asyncio.Task[None]) -> None:
        self._recycler = None
        if not task.cancelled() and task.exception() is not None:
            log.error("voicelive.recycle_failed", error=repr(task.exception()))

    async def _recycle(self) -> None:
        """Open the next session now; switch to it at a turn boundary, while the caller listens."""
        started = time.monotonic()
        old = self._conn
        try:
            new = await asyncio.wait_for(self._open(), self.reconnect_budget_s)
        except (VoiceLiveUnavailable, TimeoutError) as exc:
            log.warning("voicelive.recycle_postponed", reason=str(exc) or "timeout")
            self._recycle_at = time.monotonic() + 30.0
            return
        try:
            deadline = time.monotonic() + SWITCH_WAIT_S
            while not (self._can_switch() and self._ready and self._conn is old):
                if time.monotonic() > deadline or self._closing or self._conn is not old:
                    log.info("voicelive.recycle_postponed", reason="no turn boundary")
                    self._recycle_at = time.monotonic() + 30.0
                    await _close(new)
                    return
                await asyncio.sleep(0.02)
            switch = time.monotonic()
            self._conn, self._ready = new, False  # from here caller audio waits for `new`
            try:
                replayed = await self._activate(new, planned=True)
            except (ConnectionClosed, TimeoutError):  # the new one failed: stay with the old one
                log.warning("voicelive.recycle_failed", reason="new session closed")
                self._conn = old
                self._debts = Debts(time.monotonic(), ulaw=self._ulaw)
                if old in self._ended:  # it ended meanwhile: its end now means a reconnect
                    self._queue.put_nowait((old, None))
                else:
                    await self._flush(old)
                self._recycle_at = time.monotonic() + 30.0
                self._abandon(new)
                return
            took = (time.monotonic() - switch) * 1000
            resumed = Resumed(True, "recycle", took, 1, replayed, 0.0, self._replayed)
            self._queue.put_nowait((None, resumed))
            self._read(new)
            log.info("voicelive.recycled", switch_ms=round(took, 1),
                     opened_in_ms=round((switch - started) * 1000, 1))  # fmt: skip
            # The old session may still transcribe what the caller said just before the switch.
            await asyncio.sleep(HANDOVER_S)
            await _close(old)
        except asyncio.CancelledError:  # the call ends, or the new session dropped
            for conn in (old, new):
                if conn is not self._conn:
                    await asyncio.shield(_close(conn))
            raise

    # ---- reconnecting after a drop ------------------------------------------------------------

    async def _reconnect(self, cause: str) -> Resumed:
        """A session ended unexpectedly: open another at once, then with backoff, within budget."""
        self._ready = False
        if self._recycler is not None:
            self._recycler.cancel()
        started = time.monotonic()
        deadline = started + self.reconnect_budget_s
        log.warning("voicelive.reconnecting", cause=cause)
        attempt = 0
        while True:
            attempt += 1
            new = None
            try:
                left = deadline - time.monotonic()
                new = await asyncio.wait_for(self._open(), max(left, 0.1))
                self._conn = new
                backlog = await self._activate(new, planned=False)
                break
            except (VoiceLiveUnavailable, TimeoutError, ConnectionClosed) as exc:
                if new is not None:  # it closed or stalled while being set up
                    self._ready = False
                    self._abandon(new)
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, VoiceLiveUnavailable) and not exc.retryable:
                    raise
                delay = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)] * random.uniform(0.8, 1.2)
                left = deadline - time.monotonic()
                delay = min(delay, left - 0.1)  # a last attempt just before the budget runs out
                if delay < 0.05:
                    raise VoiceLiveUnavailable(
                        f"no session after {attempt} attempts in "
                        f"{time.monotonic() - started:.1f} s: {reason}"
                    ) from None
                log.warning("voicelive.reconnect_retry", attempt=attempt, reason=reason,
                            delay_s=round(delay, 2))  # fmt: skip
                await asyncio.sleep(delay)
        took = (time.monotonic() - started) * 1000
        dropped = self._dropped_bytes / self._bytes_per_ms
        self._dropped_bytes = 0
        self.resumes += 1
        log.info("voicelive.reconnected", cause=cause, took_ms=round(took, 1), attempts=attempt,
                 backlog_ms=round(backlog, 1), dropped_ms=round(dropped, 1))  # fmt: skip
        return Resumed(False, cause, took, attempt, backlog, dropped, self._replayed)

    async def _activate(self, new: VoiceLiveConnection, *, planned: bool) -> float:
        """Give a new session the conversation so far, then the caller's waiting audio."""
        self._replayed = tuple(self._replay(planned))
        self._debts = Debts(time.monotonic(), ulaw=self._ulaw)
        self._unconfirmed.clear()  # the old session's: a drop that was not a stall took it
        for event in self._replayed:
            await _send(new, event)
            self._debts.sent_event(event, time.monotonic())
        self._session_started = time.monotonic()
        self._recycle_at = self._session_started + self.recycle_after_s
        return await self._flush(new)

    async def _flush(self, conn: VoiceLiveConnection) -> float:
        """Send the backlog in order (audio arriving meanwhile joins it), then go live."""
        flushed = self.backlog_ms
        self.offset_ms = self._audio_ms_in - flushed
        step = int(FLUSH_MS * self._bytes_per_ms)
        while self._backlog:
            chunk = bytearray()
            while self._backlog and len(chunk) < step:
                part = self._backlog.popleft()
                self._backlog_bytes -= len(part)
                chunk += part
            try:
                await _send(conn, vl.append_audio(bytes(chunk)))
            except (ConnectionClosed, TimeoutError):  # not sent: it waits for the next session
                self._backlog.appendleft(bytes(chunk))
                self._backlog_bytes += len(chunk)
                for old in reversed(self._unconfirmed.take()):  # nor did what went before
                    self._backlog.appendleft(old)
                    self._backlog_bytes += len(old)
                raise
            self._unconfirmed.add(bytes(chunk))
            self._debts.sent_audio(bytes(chunk), time.monotonic())
        self._ready = True
        return flushed

    # ---- the end ------------------------------------------------------------------------------

    @property
    def close_code(self) -> int | None:
        return self._conn.close_code

    @property
    def close_reason(self) -> str:
        return self.gave_up or self._conn.close_reason

    async def close(self) -> None:
        """Close the current session and stop any recycle in progress."""
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
        if self._recycler is not None:
            self._recycler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._recycler
        for task in list(self._readers.values()):
            task.cancel()
        if self._closers:  # sessions given up on, closing in the background
            await asyncio.wait(self._closers, timeout=1.0)
            for task in list(self._closers):
                task.cancel()
        await self._conn.close()


async def _send(conn: VoiceLiveConnection, text: str) -> None:
    """Send one event; TimeoutError if the connection takes longer than SEND_TIMEOUT_S.

    asyncio.timeout, not wait_for: no task per send (3.7 µs against 10.6 µs on Python 3.11,
    and this runs for every 20 ms of caller audio).
    """
    async with asyncio.timeout(SEND_TIMEOUT_S):
        await conn.send(text)


def _watch_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("voicelive.watch_failed", error=repr(task.exception()))


async def _close(conn: VoiceLiveConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.close(), 2.0)
