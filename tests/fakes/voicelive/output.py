"""What a fake Voice Live response says: an assistant message streamed as audio and
transcript deltas in real time (or faster), cut short when interrupted, and function call
items with their arguments."""

from __future__ import annotations

import base64
import math
from typing import Any

from tests.fakes import audio

from .responses import FakeResponse


class ResponseOutput:
    """Mixed into FakeSession (session.py), which holds the state."""

    async def _produce_call(
        self, response: FakeResponse, call: dict[str, Any], output_index: int
    ) -> dict[str, Any]:
        rid, item_id, call_id = response.id, call["item_id"], call["call_id"]
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call["name"],
            "call_id": call_id,
            "arguments": "",
        }
        where = {"response_id": rid, "item_id": item_id, "output_index": output_index}
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": output_index,
                "item": item,
            }
        )
        previous = self._last_item_id
        self._last_item_id = item_id
        self.items[item_id] = {"item": item, "role": None, "audio_ms": 0.0}
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        arguments = call["arguments"]
        await self._emit(
            {
                "type": "response.function_call_arguments.delta",
                **where,
                "call_id": call_id,
                "delta": arguments,
            }
        )
        done: dict[str, Any] = {
            "type": "response.function_call_arguments.done",
            **where,
            "call_id": call_id,
            "arguments": arguments,
        }
        if response.name_on_done:
            done["name"] = call["name"]
        await self._emit(done)
        item = {**item, "status": "completed", "arguments": arguments}
        self.items[item_id]["item"] = item
        await self._emit(
            {
                "type": "response.output_item.done",
                "response_id": rid,
                "output_index": output_index,
                "item": item,
            }
        )
        return item

    async def _produce_message(self, response: FakeResponse, output_index: int) -> dict[str, Any]:
        rid, item_id = response.id, response.item_id
        where = {
            "response_id": rid,
            "item_id": item_id,
            "output_index": output_index,
            "content_index": 0,
        }
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": output_index,
                "item": item,
            }
        )
        previous = self._last_item_id
        self._last_item_id = item_id
        entry = {"item": item, "role": "assistant", "audio_ms": 0.0}
        self.items[item_id] = entry
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        await self._emit(
            {
                "type": "response.content_part.added",
                **where,
                "part": {"type": "audio", "transcript": ""},
            }
        )

        step = max(1, self.server.delta_ms) * audio.bytes_per_ms(response.output_format)
        chunks = [response.audio[i : i + step] for i in range(0, len(response.audio), step)]
        words = response.transcript.split(" ")
        pieces: dict[int, str] = {}
        for j, word in enumerate(words):
            k = j * max(1, len(chunks)) // len(words)
            pieces[k] = pieces.get(k, "") + word + (" " if j < len(words) - 1 else "")
        speed = self.server.speed
        interval = 0.0 if math.isinf(speed) else self.server.delta_ms / 1000 / speed
        first_at = response.triggered_at + self.server.first_delta_delay_ms / 1000

        for k, chunk in enumerate(chunks):
            if response.cancel_reason is None:
                await self._sleep_until(first_at + k * interval, response.wake)
            if response.cancel_reason is not None:
                if response.late_budget <= 0:
                    break
                response.late_budget -= 1
                response.deltas_after_interrupt += 1
            await self._emit(
                {
                    "type": "response.audio.delta",
                    **where,
                    "delta": base64.b64encode(chunk).decode("ascii"),
                }
            )
            now = self._loop.time()
            response.first_delta_at = response.first_delta_at or now
            response.last_delta_at = now
            response.deltas_sent += 1
            response.audio_bytes_sent += len(chunk)
            entry["audio_ms"] = response.audio_ms_sent
            if response.cancel_reason is None and k in pieces:
                response.transcript_sent += pieces[k]
                await self._emit(
                    {"type": "response.audio_transcript.delta", **where, "delta": pieces[k]}
                )

        if response.cancel_reason is None:
            response.audio_finished = True
            # words the audio never reached (no deltas at all) still belong to the transcript
            response.transcript_sent = response.transcript
            text = response.transcript
            await self._emit({"type": "response.audio.done", **where})
            await self._emit(
                {"type": "response.audio_transcript.done", **where, "transcript": text}
            )
            await self._emit(
                {
                    "type": "response.content_part.done",
                    **where,
                    "part": {"type": "audio", "transcript": text},
                }
            )
            item_status = "completed"
        else:
            item_status = "incomplete"
        item = {
            **item,
            "status": item_status,
            "content": [{"type": "audio", "transcript": response.transcript_sent}],
        }
        entry["item"] = item
        if item_status == "completed":
            await self._emit(
                {
                    "type": "response.output_item.done",
                    "response_id": rid,
                    "output_index": output_index,
                    "item": item,
                }
            )
        return item
