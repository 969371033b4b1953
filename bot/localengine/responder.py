"""A local-engine session's responses: at most one active, started from a turn, cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from bot.localengine import events
from bot.localengine.events import Event
from bot.localengine.failures import FailurePlan
from bot.localengine.response import Response, Send
from bot.localengine.script import END_CALL_TOOL, Turn

log = structlog.get_logger(__name__)


class Responder:
    """Starts a session's responses (or the failures planned for them), runs each in the
    background, cancels the active one; keeps the responses by their audio item's id."""

    def __init__(
        self,
        send: Send,
        add_item: Callable[[Event], str | None],
        *,
        speed: float,
        failures: FailurePlan,
    ) -> None:
        self._send = send
        self._add_item = add_item
        self._speed = speed
        self._failures = failures
        self._responses = 0  # responses started in this session
        self._last_input_tokens = 0  # the previous response's input: cached for the next one
        self._response: Response | None = None
        self._heard: Response | None = None  # the last response whose audio was not cut
        self.spoken: dict[str, Response] = {}  # assistant audio items by id
        self._task: asyncio.Task[None] | None = None

    def active(self) -> Response | None:
        """The response in progress, if any."""
        response = self._response
        return response if response is not None and not response.done else None

    def ongoing(self) -> bool:
        """A response in progress, or its audio still playing at the caller if played as soon as
        received (what the service assumes when it ignores fillers "during a response")."""
        if self.active() is not None:
            return True
        heard = self._heard
        if heard is None or heard.first_audio_at is None:
            return False
        loop = asyncio.get_running_loop()
        return loop.time() < heard.first_audio_at + heard.audio_ms_sent / 1000

    def cut(self) -> None:
        """The caller stopped hearing the last response (truncated)."""
        self._heard = None

    async def start(
        self,
        turn: Turn | None,
        next_turn: Callable[[], Turn],
        session: Event,
        committed_audio_ms: float,
    ) -> None:
        """Start a response saying `turn`, else the script's `next_turn()` (unless it fails)."""
        failure = self._failures.take()
        if failure is not None:  # a failed turn of the script is asked again: no step taken
            turn = Turn("", final=False)
        turn = turn or next_turn()
        text_tokens = len((session.get("instructions") or "").split()) * 4 // 3
        prompt = events.input_tokens(text_tokens, committed_audio_ms)
        response = Response(
            send=self._send,
            add_item=self._add_item,
            turn=turn,
            output_format=session["output_audio_format"],
            offer_end_call=END_CALL_TOOL in events.tool_names(session),
            speed=self._speed,
            input_text_tokens=text_tokens,
            input_audio_ms=committed_audio_ms,
            failure=failure,
            # the previous prompt is cached; every other response reports cached_tokens without
            # cached_tokens_details, as the API reference's example does
            cached_tokens=self._last_input_tokens,
            cached_details=self._responses % 2 == 0,
            pace=events.voice_rate(session.get("voice")),
        )
        self._responses += 1
        self._last_input_tokens = prompt
        self._response = self._heard = response
        self.spoken[response.item_id] = response
        if failure is not None:
            log.info("localengine.response_fails", id=response.id, code=failure.get("code"))
        else:
            log.info("localengine.response", id=response.id, text=turn.text, final=turn.final)
        await response.start()
        self._task = asyncio.create_task(self._run(response))

    async def _run(self, response: Response) -> None:
        try:
            await response.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("localengine.response_failed", id=response.id)
            failed = {"type": "failed", "error": {"type": "server_error", "code": "tts_failed"}}
            with contextlib.suppress(Exception):
                body = {"id": response.id, "status": "failed", "status_details": failed}
                await self._send({"type": "response.done", "response": body})
        finally:
            if self._response is response:
                self._response = None

    async def cancel(self, reason: str) -> None:
        """Cancel the active response, if any: stop it, then send its cancelled ending."""
        response, task = self.active(), self._task
        if response is None or task is None:
            return
        self._response = self._heard = None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("localengine.cancelled", id=response.id, reason=reason,
                 audio_ms_sent=round(response.audio_ms_sent))  # fmt: skip
        await response.finish_cancelled(reason)

    async def close(self) -> None:
        """Stop any response in flight (the socket is gone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
