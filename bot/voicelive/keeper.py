"""One call's Voice Live session, kept alive: recycled before it expires, reopened after a drop."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from websockets.exceptions import ConnectionClosed

from bot.timeouts import within
from bot.voicelive import events as vl
from bot.voicelive.backlog import BACKLOG_S, Backlog
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from bot.voicelive.deadlines import SEND_TIMEOUT_S, close_quietly, send_within
from bot.voicelive.readers import Readers
from bot.voicelive.reconnect import recycle_in, retry_delay
from bot.voicelive.stall import Debts, Unconfirmed
from bot.voicelive.switchover import Handover, Resumed
from bot.voicelive.watch import StallWatch

log = structlog.get_logger(__name__)

FLUSH_MS = 200  # backlog audio goes out in appends of this length
HANDOVER_S = 2.0  # after a switch the old session is kept this long for the caller's last words
SWITCH_WAIT_S = 120.0  # a recycle waits this long for a turn boundary, then gives up for now

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
        self._backlog = Backlog(bytes_per_ms)  # caller audio waiting for the next session
        self._ulaw = bytes_per_ms == 8  # the bot appends μ-law (8 kHz) or PCM16 (24 kHz)
        self._debts = Debts(time.monotonic(), ulaw=self._ulaw)
        self._unconfirmed = Unconfirmed(self._backlog.max_bytes)  # sent since the last sign of life
        self._watch = StallWatch(self._live, lambda: self._debts, self._stalled)
        self._audio_ms_in = 0.0  # caller audio handed to us, all sessions together
        self.offset_ms = 0.0  # where the current session's audio starts in the caller's audio
        self._session_started = time.monotonic()
        self._recycle_at = self._session_started + recycle_after_s
        self._recycler: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[tuple[VoiceLiveConnection | None, Event | None]] = (
            asyncio.Queue()
        )
        self._readers = Readers(self._heard)
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
            await send_within(conn, text)
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
                await send_within(conn, vl.append_audio(audio))
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
        self._backlog.push_front(self._unconfirmed.take())
        self._trim()
        self._readers.abandon(conn)
        self._queue.put_nowait((conn, None))  # its end, as far as the call is concerned

    def _keep(self, audio: bytes) -> None:
        self._backlog.append(audio)
        self._trim()

    def _trim(self) -> None:
        if self._backlog.trim():
            log.error("voicelive.backlog_full", kept_s=BACKLOG_S)

    @property
    def backlog_ms(self) -> float:
        return self._backlog.ms

    # ---- what the call reads ------------------------------------------------------------------

    async def events(self) -> AsyncIterator[vl.ServerEvent | Resumed | Handover]:
        """Events of the current session; across a recycle or a drop, a `Resumed` in between.

        Each session is read by its own task into one queue, so a session switched away from
        can still hand over the caller's words while the new one is already being read.
        Ends when the keeper is closed or a reconnect gives up (`gave_up` says why).
        """
        self._readers.read(self._conn)
        self._watch.start()
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
                    self._readers.read(self._conn)
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
                        await close_quietly(conn)
        finally:
            self._readers.stop()
            self._watch.cancel()

    def _heard(self, conn: VoiceLiveConnection, event: vl.ServerEvent | None) -> None:
        """A session's event (None: its events ended), from its reader into the queue."""
        if event is not None and conn is self._conn:  # a sign of life: what it got is not resent
            self._debts.received(event, time.monotonic())
            self._unconfirmed.clear()
        self._queue.put_nowait((conn, event))

    # ---- finding a stalled session -----------------------------------------------------------

    def _live(self) -> VoiceLiveConnection | None:
        """The session to watch: the current one, unless it is being replaced or closed."""
        return self._conn if self._ready and not self._closing else None

    @property
    def probes(self) -> int:
        """Probes the current and earlier sessions answered (they were only quiet)."""
        return self._watch.probes

    # ---- recycling before expiry --------------------------------------------------------------

    def _expires(self, expires_at: int | None) -> None:
        """Recycle well before the service's own deadline, if it gave one."""
        if expires_at is None:
            return
        lifetime = expires_at - time.time()
        at = time.monotonic() + recycle_in(lifetime)
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
            new = await within(self._open(), self.reconnect_budget_s)
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
                    await close_quietly(new)
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
                if old in self._readers.ended:  # it ended meanwhile: its end now means a reconnect
                    self._queue.put_nowait((old, None))
                else:
                    await self._flush(old)
                self._recycle_at = time.monotonic() + 30.0
                self._readers.abandon(new)
                return
            took = (time.monotonic() - switch) * 1000
            resumed = Resumed(True, "recycle", took, 1, replayed, 0.0, self._replayed)
            self._queue.put_nowait((None, resumed))
            self._readers.read(new)
            log.info("voicelive.recycled", switch_ms=round(took, 1),
                     opened_in_ms=round((switch - started) * 1000, 1))  # fmt: skip
            # The old session may still transcribe what the caller said just before the switch.
            await asyncio.sleep(HANDOVER_S)
            await close_quietly(old)
        except asyncio.CancelledError:  # the call ends, or the new session dropped
            for conn in (old, new):
                if conn is not self._conn:
                    await asyncio.shield(close_quietly(conn))
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
                new = await within(self._open(), max(left, 0.1))
                self._conn = new
                backlog = await self._activate(new, planned=False)
                break
            except (VoiceLiveUnavailable, TimeoutError, ConnectionClosed) as exc:
                if new is not None:  # it closed or stalled while being set up
                    self._ready = False
                    self._readers.abandon(new)
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, VoiceLiveUnavailable) and not exc.retryable:
                    raise
                delay = retry_delay(attempt, deadline - time.monotonic())
                if delay is None:
                    raise VoiceLiveUnavailable(
                        f"no session after {attempt} attempts in "
                        f"{time.monotonic() - started:.1f} s: {reason}"
                    ) from None
                log.warning("voicelive.reconnect_retry", attempt=attempt, reason=reason,
                            delay_s=round(delay, 2))  # fmt: skip
                await asyncio.sleep(delay)
        took = (time.monotonic() - started) * 1000
        dropped = self._backlog.take_dropped_ms()
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
            await send_within(new, event)
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
            chunk = self._backlog.take(step)
            try:
                await send_within(conn, vl.append_audio(chunk))
            except (ConnectionClosed, TimeoutError):  # not sent: it waits for the next session,
                # as does what went before it
                self._backlog.push_front([*self._unconfirmed.take(), chunk])
                raise
            self._unconfirmed.add(chunk)
            self._debts.sent_audio(chunk, time.monotonic())
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
        await self._watch.stop()
        if self._recycler is not None:
            self._recycler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._recycler
        await self._readers.close()  # and sessions given up on, closing in the background
        await self._conn.close()
