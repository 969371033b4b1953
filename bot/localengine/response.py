"""One response of the local engine: speech and an optional end-call function, as events."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from bot.localengine import audio, events, tts
from bot.localengine.events import Event
from bot.localengine.script import END_CALL_TOOL, Turn

CHUNK_MS = 100

Send = Callable[[Event], Awaitable[None]]


def encode_speech(text: str, output_format: str, pace: float = 1.0) -> tuple[list[bytes], float]:
    """Speak text in the session's output format (at `pace` times the voice's own rate, as an
    Azure voice's `rate`): 100 ms chunks and the total duration (ms)."""
    rate, ulaw = events.OUTPUT_FORMATS[output_format]
    samples = tts.synthesize(text, rate, tts.Voice(rate=round(tts.Voice.rate * pace)))
    step = rate * CHUNK_MS // 1000
    chunks = []
    for start in range(0, samples.size, step):
        part = samples[start : start + step]
        chunks.append(audio.ulaw_encode(part) if ulaw else part.astype("<i2").tobytes())
    return chunks, samples.size / rate * 1000


def split_sentences(text: str) -> list[str]:
    """Text cut after each . ? or ! (so speech can start before the whole reply is made).

    The pieces join back to exactly `text` (whitespace included): what is spoken is
    piece.strip(), what the transcript says is the pieces themselves."""
    pieces: list[str] = []
    for piece in re.split(r"(?<=[.?!])(?=\s)", text):
        if pieces and (not piece.strip() or not pieces[-1].strip()):
            pieces[-1] += piece  # whitespace alone belongs to a sentence
        elif piece:
            pieces.append(piece)
    return pieces or [text]


def _transcript_slices(text: str, parts: int) -> list[str]:
    """Split text into `parts` consecutive pieces at word starts; they join back to `text`
    exactly (some may be empty)."""
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    cuts = np.linspace(0, len(starts), parts + 1).round().astype(int)
    bounds = [0] + [starts[c] if c < len(starts) else len(text) for c in cuts[1:-1]] + [len(text)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(parts)]


class Response:
    """Emits one response's events in Voice Live order, paced at `speed` x real time.

    Cancelling the task running `run()` stops the output between two events; `finish_cancelled`
    then closes whatever was open and sends `response.done` with status `cancelled`.
    """

    def __init__(
        self,
        *,
        send: Send,
        add_item: Callable[[Event], str | None],
        turn: Turn,
        output_format: str,
        offer_end_call: bool,
        speed: float,
        input_text_tokens: int,
        input_audio_ms: float,
        failure: Event | None = None,
        cached_tokens: int = 0,
        cached_details: bool = True,
        pace: float = 1.0,
    ) -> None:
        self.id = events.new_id("resp")
        self._send = send
        self._add_item = add_item
        self.turn = turn
        self._format = output_format
        self._pace = pace
        self._end_call = turn.final and offer_end_call
        self._speed = speed
        self._input = (input_text_tokens, input_audio_ms)
        self.failure = failure  # {type, code, message}: the response fails, saying nothing
        self._cached = {"cached_tokens": cached_tokens, "cached_details": cached_details}
        self.item_id = events.new_id("item")
        self.audio_ms_sent = 0.0
        self.first_audio_at: float | None = None  # loop time of the first audio delta
        self.audio_ms_total = 0.0
        self._transcript = ""
        self._opened = False  # output item and content part announced
        self._closed = False  # their done events sent
        self._output: list[Event] = []
        self.done = False  # response.done is being (or has been) sent

    def _response(self, status: str, details: Any = None, with_usage: bool = False) -> Event:
        body: Event = {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": self._output,
            "modalities": ["text", "audio"],
            "output_audio_format": self._format,
            "usage": None,
        }
        if with_usage:
            body["usage"] = events.usage(
                *self._input, self._transcript, self.audio_ms_sent, **self._cached
            )
        return body

    def _ids(self, index: int = 0) -> Event:
        return {"response_id": self.id, "item_id": self.item_id, "output_index": index}

    async def start(self) -> None:
        """Send response.created (before any audio is made)."""
        await self._send({"type": "response.created", "response": self._response("in_progress")})

    async def run(self) -> None:
        """Send the rest of the response, ending in response.done (completed, or failed)."""
        if self.failure is not None:
            details = {"type": "failed", "error": dict(self.failure)}
            response = self._response("failed", details, with_usage=True)
            self.done = True
            await self._send({"type": "response.done", "response": response})
            return
        sentences = split_sentences(self.turn.text)
        encode = self._encoder(sentences[0])
        item = events.message_item(self.item_id, "assistant", [], "in_progress")
        self._opened = True
        where = {"response_id": self.id, "output_index": 0}  # no item_id: the item says it
        await self._send({"type": "response.output_item.added", **where, "item": item})
        previous = self._add_item(item)
        await self._send(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        part = {"type": "audio", "transcript": ""}
        await self._send(
            {"type": "response.content_part.added", **self._ids(), "content_index": 0, "part": part}
        )
        rate, ulaw = events.OUTPUT_FORMATS[self._format]
        bytes_per_ms = rate / 1000 * (1 if ulaw else 2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            for index, sentence in enumerate(sentences):
                chunks, duration_ms = await encode
                if index + 1 < len(sentences):  # speak the next sentence while this one streams
                    encode = self._encoder(sentences[index + 1])
                self.audio_ms_total += duration_ms
                slices = _transcript_slices(sentence, len(chunks) or 1)
                if not chunks:  # nothing to hear (whitespace, punctuation): the words still count
                    await self._transcript_delta(slices[0])
                for chunk, words in zip(chunks, slices, strict=False):
                    delay = started + self.audio_ms_sent / 1000 / self._speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if self.first_audio_at is None:
                        self.first_audio_at = loop.time()
                    self.audio_ms_sent += len(chunk) / bytes_per_ms
                    await self._send(
                        {"type": "response.audio.delta", **self._ids(), "content_index": 0,
                         "delta": base64.b64encode(chunk).decode()}
                    )  # fmt: skip
                    if words:
                        await self._transcript_delta(words)
        finally:
            encode.cancel()  # a sentence made ahead is not needed once cancelled
        await self._close_message("completed")
        if self._end_call:
            await self._call_end_interview()
        response = self._response("completed", with_usage=True)
        self.done = True
        await self._send({"type": "response.done", "response": response})

    def _encoder(self, sentence: str) -> asyncio.Task[tuple[list[bytes], float]]:
        spoken = sentence.strip()
        return asyncio.ensure_future(
            asyncio.to_thread(encode_speech, spoken, self._format, self._pace)
        )

    async def _transcript_delta(self, text: str) -> None:
        if not text:
            return
        self._transcript += text
        await self._send(
            {"type": "response.audio_transcript.delta", **self._ids(), "content_index": 0,
             "delta": text}
        )  # fmt: skip

    async def _close_message(self, status: str) -> None:
        self._closed = True
        ids = {**self._ids(), "content_index": 0}
        part = {"type": "audio", "transcript": self._transcript}
        await self._send({"type": "response.audio.done", **ids})
        await self._send(
            {"type": "response.audio_transcript.done", **ids, "transcript": self._transcript}
        )
        await self._send({"type": "response.content_part.done", **ids, "part": part})
        item = events.message_item(self.item_id, "assistant", [part], status)
        self._output.append(item)
        where = {"response_id": self.id, "output_index": 0}
        await self._send({"type": "response.output_item.done", **where, "item": item})

    async def _call_end_interview(self) -> None:
        item_id, call_id, arguments = events.new_id("item"), events.new_id("call"), "{}"
        ids = {"response_id": self.id, "item_id": item_id, "output_index": 1, "call_id": call_id}
        item = events.function_call_item(item_id, call_id, END_CALL_TOOL, "", "in_progress")
        await self._send(
            {"type": "response.output_item.added", "response_id": self.id, "output_index": 1,
             "item": item}
        )  # fmt: skip
        previous = self._add_item(item)
        await self._send(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        await self._send({"type": "response.function_call_arguments.delta", **ids, "delta": "{}"})
        # As the API reference shows it: no `name` (the item above carries it, by call_id).
        await self._send(
            {"type": "response.function_call_arguments.done", **ids, "arguments": arguments}
        )
        done = events.function_call_item(item_id, call_id, END_CALL_TOOL, arguments, "completed")
        self._output.append(done)
        await self._send(
            {"type": "response.output_item.done", "response_id": self.id, "output_index": 1,
             "item": done}
        )  # fmt: skip

    async def finish_cancelled(self, reason: str) -> None:
        """After the run task was cancelled: close open parts, then response.done (cancelled)."""
        if self._opened and not self._closed:
            await self._close_message("incomplete")
        details = {"type": "cancelled", "reason": reason}
        response = self._response("cancelled", details, with_usage=True)
        self.done = True
        await self._send({"type": "response.done", "response": response})
