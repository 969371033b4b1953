"""Caller turns in the fake Voice Live: an energy VAD over appended audio (speech started,
stopped, committed, the user item, its transcription, a response) and the same turn
triggered by hand, without audio."""

from __future__ import annotations

import numpy as np

from tests.fakes import audio

from .reference import new_id


class TurnDetection:
    """Mixed into FakeSession (session.py), which holds the state."""

    def _reset_speech(self) -> None:
        self._in_speech = False
        self._speech_item_id = None
        self._loud_ms = 0
        self._quiet_ms = 0

    async def _vad(self, samples: np.ndarray, fmt: str, rate: int, start_ms: float) -> None:
        """Energy VAD over appended audio in 20 ms windows (RMS >= threshold = loud)."""
        if fmt != self._vad_format:  # format change: restart windowing at this append
            self._vad_format = fmt
            self._vad_residual = np.zeros(0)
            self._vad_pos_ms = start_ms
        buf = np.concatenate([self._vad_residual, samples])
        window = rate * 20 // 1000
        n_windows = len(buf) // window
        self._vad_residual = buf[n_windows * window :]
        td = self._turn_detection or {}
        silence_ms = td.get("silence_duration_ms", 500)
        silence_ms = 500 if silence_ms is None else silence_ms
        # turn_detection.speech_duration_ms: the speech needed to start detection (Microsoft's
        # how-to: "If not set or under 80 ms, the detector uses a default value of 80 ms");
        # the event comes then, its audio_start_ms is still the onset.
        min_speech_ms = max(self.server.vad_min_speech_ms, td.get("speech_duration_ms") or 0)
        for i in range(n_windows):
            at_ms = self._vad_pos_ms
            self._vad_pos_ms += 20
            loud = audio.rms(buf[i * window : (i + 1) * window]) >= self.server.vad_rms_threshold
            if not self._in_speech:
                if not loud:
                    self._loud_ms = 0
                    continue
                if self._loud_ms == 0:
                    self._onset_ms = at_ms
                self._loud_ms += 20
                if self._loud_ms >= min_speech_ms:
                    padding = td.get("prefix_padding_ms") or 0
                    await self.speech_started(max(0, round(self._onset_ms - padding)))
            elif loud:
                self._quiet_ms = 0
            else:
                if self._quiet_ms == 0:
                    self._speech_end_ms = at_ms
                self._quiet_ms += 20
                if self._quiet_ms >= silence_ms:
                    item_id = self._speech_item_id or new_id("item_")
                    self._reset_speech()
                    # As the OpenAI realtime reference defines it (Voice Live mirrors it):
                    # audio_end_ms includes the silence_duration_ms that ended the turn.
                    await self._finish_user_turn(
                        item_id,
                        audio_end_ms=round(self._speech_end_ms + silence_ms),
                        transcript=None,
                        respond=self._td_flag("create_response"),
                    )

    async def speech_started(self, audio_start_ms: int | None = None) -> str:
        """Send input_audio_buffer.speech_started (barge-in); returns the user item id.

        Interrupts the active response unless turn_detection.interrupt_response is false.
        """
        item_id = new_id("item_")
        self._in_speech = True
        self._quiet_ms = 0
        self._speech_item_id = item_id
        start = round(self.appended_ms) if audio_start_ms is None else audio_start_ms
        await self._emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start,
                "item_id": item_id,
            }
        )
        response = self._active
        if response is not None and self._td_flag("interrupt_response"):
            self._interrupt(response, "turn_detected", self.server.late_deltas_after_interrupt)
        return item_id

    async def caller_turn(
        self, transcript: str | None = None, *, respond: bool | None = None
    ) -> str:
        """A whole caller turn without audio: speech_started (if not already) -> stopped ->
        committed -> user item -> transcription -> response (unless create_response is false).
        """
        if self._speech_item_id is None:
            await self.speech_started()
        item_id = self._speech_item_id or new_id("item_")
        self._reset_speech()
        await self._finish_user_turn(
            item_id,
            audio_end_ms=round(self.appended_ms),
            transcript=transcript,
            respond=self._td_flag("create_response") if respond is None else respond,
        )
        return item_id

    async def _finish_user_turn(
        self, item_id: str, *, audio_end_ms: int | None, transcript: str | None, respond: bool
    ) -> None:
        if audio_end_ms is not None:
            await self._emit(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": audio_end_ms,
                    "item_id": item_id,
                }
            )
        previous = self._last_item_id
        self._last_item_id = item_id
        self._buffer_bytes = 0
        await self._emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.items[item_id] = {"item": item, "role": "user", "audio_ms": 0.0}
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        index = self._utterances
        self._utterances += 1
        transcribe = self.server.transcribe
        if transcribe is None:
            transcribe = bool(self.config.get("input_audio_transcription"))
        if transcribe:
            text = transcript if transcript is not None else self.server.caller_transcript(index)
            await self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                }
            )
        if respond:
            await self._start_response(None)
