"""The dialer: claims due interviews atomically, records each attempt, then places the call."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import structlog

from bot.observability.logs import mask_phone
from bot.store.interviews import Claim, InterviewStore
from bot.store.record_writes import Backoff, unavailable
from bot.timeouts import within
from bot.twilio.rest import RestError
from bot.twilio.twiml import BUILT_IN, VOICEMAIL

log = structlog.get_logger(__name__)

# Twilio hangs up at TimeLimit, mid-sentence: leave room past the longest interview for the
# wrap-up (closing line, at most 45 s) and the <Connect action> round trip.
TIME_LIMIT_MARGIN_S = 300
DEFAULT_MAX_CALL_DURATION_S = 3900


def call_time_limit_s(max_call_duration_s: float) -> int:
    """Twilio's TimeLimit for an outbound call: MAX_CALL_DURATION_S plus 5 minutes."""
    return math.ceil(max_call_duration_s) + TIME_LIMIT_MARGIN_S


class Clock(Protocol):
    """Wall-clock time and sleeping, replaceable in tests."""

    def now(self) -> datetime: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Rest(Protocol):
    """What the dialer needs of Twilio's REST API (bot.twilio.rest.TwilioRest)."""

    def create_call(self, **kwargs: Any) -> str: ...
    def update_call(
        self, call_sid: str, *, twiml: str | None = None, status: str | None = None
    ) -> None: ...


@dataclass(frozen=True)
class DialerConfig:
    """How the dialer places calls (from Settings)."""

    public_url: str
    from_number: str
    calls_per_second: float = 1.0
    poll_s: float = 1.0
    rest_timeout_s: float = 10.0
    recovery_s: float = 300.0  # a claim with no word from Twilio after this was never placed
    max_in_flight: int = 10
    ring_timeout_s: int = 30
    time_limit_s: int = call_time_limit_s(DEFAULT_MAX_CALL_DURATION_S)
    account_error_pause_s: float = 300.0  # after an error about our account, not the number

    def url(self, path: str, claim: Claim) -> str:
        query = urlencode({"interview": claim.interview_id, "attempt": claim.seq})
        return f"{self.public_url}{path}?{query}"


class RateLimiter:
    """At most `per_second` acquisitions per second, spaced evenly (Twilio's CPS limit)."""

    def __init__(self, per_second: float, clock: Clock) -> None:
        self.interval = timedelta(seconds=1 / per_second)
        self.clock = clock
        self._next: datetime | None = None

    async def acquire(self) -> None:
        now = self.clock.now()
        slot = now if self._next is None or self._next < now else self._next
        self._next = slot + self.interval
        wait = (slot - now).total_seconds()
        if wait > 0:
            await self.clock.sleep(wait)


Hook = Callable[[Claim], Awaitable[None]]
DB_BACKOFF_CAP_S = 30.0  # while the database is down: poll_s doubling up to this

# Errors about our account or caller ID, not the candidate: every call would fail alike.
ACCOUNT_ERRORS = frozenset({20003, 21210})
# A REST update of a call that is over: not found (20404), not in progress (21220).
CALL_ENDED = frozenset({20404, 21220})


class Dialer:
    """One per replica. Call `start()`; `stop()` waits (bounded) for dials in flight."""

    def __init__(
        self,
        store: InterviewStore,
        rest: Rest,
        config: DialerConfig,
        *,
        instance: str,
        clock: Clock | None = None,
        paused: Callable[[], bool] = lambda: False,
        voicemail: str | None = None,
    ) -> None:
        self.store = store
        self.rest = rest
        self.config = config
        self.instance = instance
        self.clock = clock or SystemClock()
        self.paused = paused
        self.limiter = RateLimiter(config.calls_per_second, self.clock)
        self.voicemail = voicemail or BUILT_IN[VOICEMAIL]  # TWIML_DIR/voicemail.xml
        self.dials = 0  # calls Twilio accepted from this dialer
        self.before_dial: Hook | None = None  # test hooks: a crash between claim and dial …
        self.after_dial: Hook | None = None  # … or between dial and storing the CallSid
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self.paused_until: datetime | None = None  # set by an account error
        self._stopping = False
        self._db_down_since: datetime | None = None
        self._db_backoff = Backoff(config.poll_s, DB_BACKOFF_CAP_S)

    def start(self) -> None:
        self._loop = asyncio.create_task(self.run(), name=f"dialer:{self.instance}")

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Stop claiming (between claims, never inside one's transaction, else cancelled after
        a few seconds); let dials in flight finish (at most timeout_s), then cancel them."""
        self._stopping = True
        if self._loop is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._loop), self.config.poll_s + 5)
            except TimeoutError:
                self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def run(self) -> None:
        """Claim and dial until stopped: one claim per rate-limit slot, at most max_in_flight."""
        recover_at = self.clock.now()
        while not self._stopping:
            try:
                if self._held():  # draining, or our Twilio account is refused
                    await self.clock.sleep(self.config.poll_s)
                    continue
                if self.clock.now() >= recover_at:
                    await self.store.recover_stale(self.config.recovery_s)
                    recover_at = self.clock.now() + timedelta(seconds=self.config.recovery_s / 4)
                dialed = await self.step()
                self._db_answered()
                if not dialed:
                    await self.clock.sleep(self.config.poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if unavailable(exc):  # quietly: one warning per outage, then back off
                    await self.clock.sleep(self._db_unavailable(exc))
                    continue
                log.error("dialer.loop_failed", error=f"{type(exc).__name__}: {exc}")
                await self.clock.sleep(self.config.poll_s)

    def _db_unavailable(self, exc: Exception) -> float:
        """The database did not answer: a warning the first time; the next delay."""
        if self._db_down_since is None:
            self._db_down_since = self.clock.now()
            log.warning("dialer.db_unavailable", error=f"{type(exc).__name__}: {exc}",
                        retry_up_to_s=DB_BACKOFF_CAP_S)  # fmt: skip
        else:
            log.debug("dialer.db_still_unavailable", error=type(exc).__name__)
        return self._db_backoff.next()

    def _db_answered(self) -> None:
        if self._db_down_since is not None:
            down_s = (self.clock.now() - self._db_down_since).total_seconds()
            log.info("dialer.db_available", down_s=round(down_s, 1))
            self._db_down_since = None
            self._db_backoff.reset()

    def _held(self) -> bool:
        """Draining, or paused after Twilio refused our account or caller ID."""
        held = self.paused_until is not None and self.clock.now() < self.paused_until
        return held or self.paused()

    async def step(self) -> bool:
        """Wait for a rate-limit slot, claim one due interview and start dialing it; False when
        none is due (or the dialer is held)."""
        await within(self._slots.acquire(), self.config.rest_timeout_s * 3)
        try:
            await self.limiter.acquire()  # before the claim: a claim is dialed at once
            held = self._held() or self._stopping
            claims = [] if held else await self.store.claim_due(self.instance, 1)
        except BaseException:
            self._slots.release()
            raise
        if not claims:
            self._slots.release()
            return False
        task = asyncio.create_task(self._dial(claims[0]), name=f"dial:{claims[0].interview_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _dial(self, claim: Claim) -> None:
        try:
            with structlog.contextvars.bound_contextvars(
                interview_id=claim.interview_id, attempt=claim.seq
            ):
                await self._place(claim)
        except Exception as exc:
            log.error("dialer.dial_crashed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._slots.release()

    async def _place(self, claim: Claim) -> None:
        if self.before_dial is not None:
            await self.before_dial(claim)
        cfg = self.config
        request = {
            "to": claim.phone,
            "from_": cfg.from_number,
            "url": cfg.url("/twilio/voice", claim),
            "status_callback": cfg.url("/twilio/status", claim),
            "amd_callback": cfg.url("/twilio/amd", claim),
            "ring_timeout_s": cfg.ring_timeout_s,
            "time_limit_s": cfg.time_limit_s,
        }
        try:
            call_sid = await within(
                asyncio.to_thread(lambda: self.rest.create_call(**request)),
                cfg.rest_timeout_s + 2,
            )
        except (RestError, TimeoutError) as exc:
            error = (
                exc
                if isinstance(exc, RestError)
                else RestError(
                    None, None, f"no answer from the Twilio API within {cfg.rest_timeout_s:g}s"
                )
            )
            outcome = await self.store.dial_failed(
                claim,
                http_status=error.http_status,
                code=error.code,
                message=error.message,
                sent=error.sent,
            )
            if error.code in ACCOUNT_ERRORS or error.http_status in (401, 403):
                pause = timedelta(seconds=cfg.account_error_pause_s)
                self.paused_until = self.clock.now() + pause
                log.error(
                    "dialer.paused",
                    reason="Twilio refused our account or caller ID",
                    code=error.code,
                    message=error.message,
                    seconds=pause.total_seconds(),
                )
            log.warning(
                "dialer.dial_failed",
                to=mask_phone(claim.phone),
                outcome=outcome,
                http_status=error.http_status,
                code=error.code,
                message=error.message,
            )
            return
        self.dials += 1
        if self.after_dial is not None:
            await self.after_dial(claim)
        await self.store.dialed(claim, call_sid)
        log.info("dialer.dialed", call_sid=call_sid, to=mask_phone(claim.phone))

    def leave_voicemail(self, call_sid: str) -> None:
        """Switch a live call answered by a machine to the voicemail message (in the background).
        Twilio replaces the call's TwiML, which ends its media stream with `stop` on whichever
        replica holds it; that replica ends the interview as `answering_machine`."""
        self._background(self._voicemail(call_sid), f"voicemail:{call_sid[-6:]}")

    def hang_up(self, call_sid: str) -> None:
        """End a live call a fax answered (in the background)."""
        self._background(self._hang_up(call_sid), f"hang_up:{call_sid[-6:]}")

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _update(self, call_sid: str, **change: str) -> bool:
        """One REST update of a live call; False (logged) if it failed or the call had ended."""
        try:
            await within(
                asyncio.to_thread(lambda: self.rest.update_call(call_sid, **change)),
                self.config.rest_timeout_s + 2,
            )
            return True
        except (RestError, TimeoutError) as exc:
            ended = isinstance(exc, RestError) and exc.code in CALL_ENDED
            (log.info if ended else log.warning)(
                "dialer.call_update_failed",
                call_sid=call_sid,
                change=sorted(change),
                meaning="the call had already ended" if ended else "the call was not changed",
                error=str(exc) or type(exc).__name__,
            )
            return False

    async def _voicemail(self, call_sid: str) -> None:
        if not await self._update(call_sid, twiml=self.voicemail):
            return
        log.info("dialer.voicemail_left", call_sid=call_sid)
        try:
            await self.store.voicemail_left(call_sid)
        except Exception as exc:  # the attempt's outcome is `voicemail` already
            log.error("dialer.voicemail_not_recorded", call_sid=call_sid,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    async def _hang_up(self, call_sid: str) -> None:
        if await self._update(call_sid, status="completed"):
            log.info("dialer.fax_hung_up", call_sid=call_sid)
