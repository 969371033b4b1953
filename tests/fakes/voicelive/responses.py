"""Responses in the fake Voice Live: response.create and response.cancel, server-initiated
responses and function calls, one active response at a time, interruption, failures on
demand, the life of a response from response.created to response.done, and its usage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.fakes import audio

from .reference import new_id, spoken_audio


@dataclass
class FakeResponse:
    """One response as the fake produced it."""

    id: str
    item_id: str
    index: int
    output_format: str
    audio: bytes
    transcript: str
    request: dict[str, Any] | None  # the client's response.create, None if server-initiated
    triggered_at: float
    status: str = "in_progress"
    status_details: dict[str, Any] | None = None
    audio_bytes_sent: int = 0
    deltas_sent: int = 0
    transcript_sent: str = ""
    created_at: float | None = None
    first_delta_at: float | None = None
    last_delta_at: float | None = None
    done_at: float | None = None
    cancel_reason: str | None = None
    interrupted_at: float | None = None
    deltas_after_interrupt: int = 0
    audio_finished: bool = False
    late_budget: int = 0
    # function calls this response carries: {"name", "call_id", "arguments", "item_id"}
    calls: list[dict[str, Any]] = field(default_factory=list)
    name_on_done: bool = False
    speaks: bool = True  # has an assistant message with audio (False: function calls only)
    pre_generated: str | None = None  # the text of pre_generated_assistant_message, if any
    failure: dict[str, Any] | None = None  # {type, code, message}: the response fails
    output: list[dict[str, Any]] = field(default_factory=list)  # response.done's output
    usage: dict[str, Any] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def audio_ms_sent(self) -> float:
        return self.audio_bytes_sent / audio.bytes_per_ms(self.output_format)

    @property
    def audio_ms(self) -> float:
        return len(self.audio) / audio.bytes_per_ms(self.output_format)


class Responses:
    """Mixed into FakeSession (session.py), which holds the state."""

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        await self._start_response(event)

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        self.cancels.append(event)
        response = self._active
        if response is None or response.audio_finished or response.cancel_reason is not None:
            await self._reject(
                event, "response_cancel_not_active", "There is no active response.", ""
            )
            return
        wanted = event.get("response_id")
        if wanted is not None and wanted != response.id:
            await self._reject(
                event, "invalid_value", f"Response {wanted!r} is not active.", "response_id"
            )
            return
        self._interrupt(response, "client_cancelled", self.server.late_deltas_after_cancel)

    async def start_response(self) -> FakeResponse | None:
        """Server-initiated response (as after a VAD turn), without a client response.create."""
        return await self._start_response(None)

    async def function_calls(
        self,
        calls: list[tuple[str, str]],
        *,
        name_on_done: bool = False,
        text: str | None = None,
    ) -> FakeResponse:
        """One server-initiated response carrying one function_call output item per
        (name, arguments), each with a fresh call_id (`response.calls`), as the reference shows
        them: the name in the items (output_item.added, conversation.item.created,
        output_item.done, response.done's output) and `.done` without `name` unless
        name_on_done. With `text`, an assistant message speaking it comes first.

        Returns as soon as the response is started (wait for `response.done_at`)."""
        response = await self._start_response(
            None, calls=calls, name_on_done=name_on_done, text=text
        )
        assert response is not None
        return response

    @staticmethod
    def _pre_generated_text(body: dict[str, Any]) -> str | bool | None:
        """The text of response.pre_generated_assistant_message; None if absent, False if bad."""
        message = body.get("pre_generated_assistant_message")
        if message is None:
            return None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or not content:
            return False
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return False
            if not isinstance(part.get("text"), str):
                return False
            texts.append(part["text"])
        return "".join(texts)

    async def _start_response(
        self,
        request: dict[str, Any] | None,
        *,
        calls: list[tuple[str, str]] | None = None,
        name_on_done: bool = False,
        text: str | None = None,
    ) -> FakeResponse | None:
        body = request.get("response") if request is not None else None
        body = body if isinstance(body, dict) else {}
        pre_generated = self._pre_generated_text(body)
        if pre_generated is False:
            assert request is not None
            await self._reject(
                request,
                "invalid_value",
                "pre_generated_assistant_message.content must be a list of text parts.",
                "response.pre_generated_assistant_message",
            )
            return None
        previous = self._active
        if previous is not None and request is not None and previous.cancel_reason is None:
            if body.get("cancel_previous", True) is False:
                await self._reject(
                    request,
                    "conversation_already_has_active_response",
                    f"Conversation already has an active response in progress: {previous.id}. "
                    "Wait until the response is finished before creating a new one.",
                    "",
                )
                return None
            # cancel_previous (default true): the active response is cancelled
            self.creates_while_active.append(request)
            self._interrupt(previous, "client_cancelled", self.server.late_deltas_after_cancel)
        index = len(self.responses)
        fmt = self.config.get("output_audio_format", "pcm16")
        failure = self.server._take_failure()
        spoken = pre_generated if isinstance(pre_generated, str) else text
        speaks = failure is None and (calls is None or text is not None)
        if not speaks:
            sound, transcript = b"", ""
        elif spoken is not None:
            ms_per_char = self.server.pre_generated_ms_per_char
            if ms_per_char is None:  # the test's own audio for this response, exact words
                sound = self.server.response_audio(index, fmt)
            else:  # audio as long as the text would take to say
                sound = spoken_audio(spoken, index, fmt, ms_per_char)
            transcript = spoken
        else:
            sound = self.server.response_audio(index, fmt)
            transcript = self.server.response_text(index)
        response = FakeResponse(
            id=new_id("resp_"),
            item_id=new_id("item_"),
            index=index,
            output_format=fmt,
            audio=sound,
            transcript=transcript,
            request=request,
            triggered_at=self._loop.time(),
            calls=[
                {
                    "name": name,
                    "call_id": new_id("call_"),
                    "arguments": arguments,
                    "item_id": new_id("item_"),
                }
                for name, arguments in (calls or [])
            ],
            name_on_done=name_on_done,
            speaks=speaks,
            pre_generated=pre_generated if isinstance(pre_generated, str) else None,
            failure=failure,
        )
        self.responses.append(response)
        self._active = response
        wait_for = previous.task if previous is not None else None
        response.task = asyncio.create_task(self._run_response(response, wait_for))
        return response

    def _interrupt(self, response: FakeResponse, reason: str, late_deltas: int) -> None:
        if response.cancel_reason is not None or response.audio_finished:
            return
        response.cancel_reason = reason
        response.interrupted_at = self._loop.time()
        response.late_budget = late_deltas
        response.wake.set()

    async def _sleep_until(self, when: float, wake: asyncio.Event) -> None:
        delay = when - self._loop.time()
        if delay <= 0:
            await asyncio.sleep(0)
            return
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass

    def _usage(self, response: FakeResponse) -> dict[str, Any]:
        if response.status == "failed":
            out_audio = out_text = 0
        else:
            out_audio = round(20 * response.audio_ms_sent / 1000)
            out_text = len(response.transcript_sent.split()) + sum(
                len(item.get("arguments") or "") // 4
                for item in response.output
                if item.get("type") == "function_call"
            )
        in_audio = round(10 * self.appended_ms / 1000)
        in_text = len(str(self.config.get("instructions") or "")) // 4 + 4 * len(self.items)
        input_tokens = in_audio + in_text
        cached = max(0, min(self.server.cached_tokens, input_tokens))
        details: dict[str, Any] = {
            "text_tokens": in_text,
            "audio_tokens": in_audio,
            "cached_tokens": cached,
        }
        if self.server.cached_details:
            cached_text = round(cached * in_text / input_tokens) if input_tokens else 0
            details["cached_tokens_details"] = {
                "text_tokens": cached_text,
                "audio_tokens": cached - cached_text,
            }
        return {
            "total_tokens": input_tokens + out_audio + out_text,
            "input_tokens": input_tokens,
            "output_tokens": out_audio + out_text,
            "input_token_details": details,
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    async def _run_response(
        self, response: FakeResponse, wait_for: asyncio.Task[None] | None
    ) -> None:
        try:
            if wait_for is not None:
                await asyncio.gather(wait_for, return_exceptions=True)
            await self._produce(response)
        except ConnectionClosed:
            response.status = "connection_closed"
        finally:
            if self._active is response:
                self._active = None

    async def _produce(self, response: FakeResponse) -> None:
        rid = response.id
        if self.server.created_delay_ms:
            await self._sleep_until(
                response.triggered_at + self.server.created_delay_ms / 1000, response.wake
            )
        response.created_at = self._loop.time()
        await self._emit(
            {
                "type": "response.created",
                "response": {
                    "id": rid,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "status_details": None,
                    "output": [],
                    "usage": None,
                },
            }
        )
        if response.failure is not None:  # produces nothing: no item, no audio
            response.status = "failed"
            response.status_details = {"type": "failed", "error": dict(response.failure)}
            self.server.failed_responses += 1
        else:
            if response.speaks:
                response.output.append(await self._produce_message(response, 0))
            if response.calls and response.cancel_reason is None:
                first_at = response.triggered_at + self.server.first_delta_delay_ms / 1000
                await self._sleep_until(first_at, response.wake)
            for call in response.calls:
                if response.cancel_reason is not None:
                    break
                response.output.append(
                    await self._produce_call(response, call, len(response.output))
                )
            if response.cancel_reason is None:
                response.status = "completed"
            else:
                response.status = "cancelled"
                response.status_details = {"type": "cancelled", "reason": response.cancel_reason}
        response.done_at = self._loop.time()
        response.usage = self._usage(response)
        await self._emit(
            {
                "type": "response.done",
                "response": {
                    "id": rid,
                    "object": "realtime.response",
                    "status": response.status,
                    "status_details": response.status_details,
                    "output": response.output,
                    "usage": response.usage,
                },
            }
        )
