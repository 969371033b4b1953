"""The input audio buffer and the conversation in the fake Voice Live: appends (fed to the
VAD), commit and clear, items created, deleted and truncated."""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

from tests.fakes import audio

from .reference import MAX_APPEND_BYTES, new_id


class InputAndItems:
    """Mixed into FakeSession (session.py), which holds the state."""

    async def _on_append(self, event: dict[str, Any]) -> None:
        payload = event.get("audio")
        try:
            if not isinstance(payload, str):
                raise ValueError("audio is not a string")
            data = base64.b64decode(payload, validate=True)
        except (ValueError, binascii.Error):
            await self._reject(event, "invalid_value", "'audio' must be base64.", "audio")
            return
        if len(data) > MAX_APPEND_BYTES:
            await self._reject(event, "invalid_value", "Append exceeds 15 MiB.", "audio")
            return
        fmt = self.config.get("input_audio_format", "pcm16")
        rate = self._input_rate()
        self._appended += data
        self._buffer_bytes += len(data)
        self.append_log.append((self._loop.time(), len(data)))
        start_ms = self.appended_ms
        self.appended_ms += len(data) / audio.bytes_per_ms(fmt, rate)
        if self.server.energy_vad and self._turn_detection is not None:
            await self._vad(audio.decode(data, fmt), fmt, rate, start_ms)

    async def _on_commit(self, event: dict[str, Any]) -> None:
        if self._buffer_bytes == 0:
            await self._reject(
                event, "input_audio_buffer_commit_empty", "The input audio buffer is empty.", ""
            )
            return
        item_id = self._speech_item_id or new_id("item_")
        self._reset_speech()
        await self._finish_user_turn(item_id, audio_end_ms=None, transcript=None, respond=False)

    async def _on_buffer_clear(self, event: dict[str, Any]) -> None:
        self._buffer_bytes = 0
        self._reset_speech()
        await self._emit({"type": "input_audio_buffer.cleared"})

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") not in (
            "message",
            "function_call",
            "function_call_output",
        ):
            await self._reject(event, "invalid_value", "Unsupported or missing item.", "item")
            return
        if item.get("type") == "message" and item.get("role") not in (
            "system",
            "user",
            "assistant",
        ):
            await self._reject(event, "invalid_value", "Unknown message role.", "item.role")
            return
        if item.get("type") == "function_call_output" and item.get("call_id") not in self.calls:
            await self._reject(
                event,
                "invalid_value",
                f"No function call with call_id {item.get('call_id')!r} in this conversation.",
                "item.call_id",
            )
            return
        item = copy.deepcopy(item)
        item.setdefault("id", new_id("item_"))
        if item["id"] in self.items:
            await self._reject(event, "invalid_value", "Duplicate item id.", "item.id")
            return
        if item["type"] == "function_call" and isinstance(item.get("call_id"), str):
            self.calls.setdefault(item["call_id"], item)
        if item["type"] == "function_call_output":
            self.tool_outputs[item["call_id"]] = item.get("output")
        item.setdefault("object", "realtime.item")
        if item["type"] != "function_call_output":  # the SDK's output item has no status
            item.setdefault("status", "completed")
        self.items[item["id"]] = {"item": item, "role": item.get("role"), "audio_ms": 0.0}
        previous = self._last_item_id
        self._last_item_id = item["id"]
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self.items:
            await self._reject(event, "item_not_found", f"No item {item_id!r}.", "item_id")
            return
        del self.items[item_id]
        await self._emit({"type": "conversation.item.deleted", "item_id": item_id})

    async def _on_truncate(self, event: dict[str, Any]) -> None:
        self.truncates.append(event)
        item_id = event.get("item_id")
        content_index = event.get("content_index")
        end_ms = event.get("audio_end_ms")
        entry = self.items.get(item_id) if isinstance(item_id, str) else None
        if entry is None:
            await self._reject(event, "item_not_found", f"No item {item_id!r}.", "item_id")
            return
        if entry["role"] != "assistant":
            await self._reject(
                event, "invalid_value", "Only assistant audio can be truncated.", "item_id"
            )
            return
        if content_index != 0:
            await self._reject(event, "invalid_value", "content_index must be 0.", "content_index")
            return
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            await self._reject(
                event, "invalid_value", "audio_end_ms must be an integer >= 0.", "audio_end_ms"
            )
            return
        if end_ms > entry["audio_ms"] + 1e-9:
            await self._reject(
                event,
                "invalid_value",
                f"audio_end_ms {end_ms} is beyond the item's audio ({entry['audio_ms']:.1f} ms).",
                "audio_end_ms",
            )
            return
        entry["truncated_ms"] = end_ms
        await self._emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )
