"""What the fake Twilio caller sends the app, as Twilio does: `connected` and `start`,
caller audio in real-time 20 ms frames (or a continuous line), `dtmf`, and `stop`."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from websockets.exceptions import ConnectionClosed

from .protocol import FRAME_BYTES, FRAME_MS, MULAW_BYTES_PER_S, SILENCE_FRAME


class Caller:
    """Mixed into FakeTwilioCall (call.py), which holds the state."""

    # ---- Twilio -> app ---------------------------------------------------------------------

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _send_json(self, event: dict[str, Any]) -> None:
        if self.ws is None:
            raise RuntimeError("connect() first")
        self.sent_events.append((self._loop.time(), event))
        await self.ws.send(json.dumps(event))

    async def start(self) -> None:
        """Send `connected` then `start`, like Twilio right after the upgrade."""
        await self._send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send_json(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": dict(self.custom_parameters),
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
        self.started_at = self._loop.time()
        if self.continuous and self._line_task is None:
            self._line_task = self._spawn(self._line())

    async def send_media(self, mulaw: bytes) -> None:
        """One inbound `media` event; `timestamp` = ms of caller audio sent, this chunk included."""
        self._chunk += 1
        self._caller_bytes += len(mulaw)
        await self._send_json(
            {
                "event": "media",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(self._caller_bytes * 1000 // MULAW_BYTES_PER_S),
                    "payload": base64.b64encode(mulaw).decode("ascii"),
                },
            }
        )

    async def speak(self, mulaw: bytes, realtime: bool = True) -> None:
        """Send caller audio as 160-byte frames, one per 20 ms (drift-free), or all at once.

        A frame goes out when its 20 ms have elapsed, so 1 s of audio takes 1 s. Stops quietly
        if the socket closes (see `closed`). With `continuous=True` the frames join the line.
        """
        frames = [mulaw[i : i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES)]
        if not frames:
            return
        if not realtime:
            for frame in frames:
                if not await self._try_send_media(frame):
                    return
            return
        if self._line_task is not None and not self._line_task.done():
            done: asyncio.Future[None] = self._loop.create_future()
            for frame in frames[:-1]:
                self._line_frames.append((frame, None))
            self._line_frames.append((frames[-1], done))
            await done
            return
        due = self._loop.time()
        for frame in frames:
            due += len(frame) / MULAW_BYTES_PER_S
            await asyncio.sleep(max(0.0, due - self._loop.time()))
            if not await self._try_send_media(frame):
                return

    async def _try_send_media(self, frame: bytes) -> bool:
        if self._closed.is_set():
            return False
        try:
            await self.send_media(frame)
        except ConnectionClosed:
            return False
        return True

    async def send_silence(self, ms: int) -> None:
        """μ-law silence (0xFF) in real time."""
        await self.speak(SILENCE_FRAME[:1] * (ms * MULAW_BYTES_PER_S // 1000))

    async def _line(self) -> None:
        """continuous=True: a frame per 20 ms all call long, speech if queued else silence."""
        due = self._loop.time()
        try:
            while True:
                due += FRAME_MS / 1000
                await asyncio.sleep(max(0.0, due - self._loop.time()))
                frame, done = self._line_frames.popleft() if self._line_frames else (None, None)
                if not await self._try_send_media(frame or SILENCE_FRAME):
                    return
                if done is not None and not done.done():
                    done.set_result(None)
        finally:
            self._release_line_waiters()

    def _release_line_waiters(self) -> None:
        while self._line_frames:
            _, done = self._line_frames.popleft()
            if done is not None and not done.done():
                done.set_result(None)

    def _stop_line(self) -> None:
        if self._line_task is not None:
            self._line_task.cancel()
        self._release_line_waiters()

    async def send_dtmf(self, digit: str) -> None:
        await self._send_json(
            {
                "event": "dtmf",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def send_raw(self, data: str | bytes) -> None:
        """Send any frame as-is (text for str, binary for bytes)."""
        if self.ws is None:
            raise RuntimeError("connect() first")
        await self.ws.send(data)

    async def hangup(self) -> None:
        """The caller hangs up: `stop`, then close the socket."""
        self._stop_line()
        if self.ws is None or self._closed.is_set():
            return
        self._hanging_up = True
        try:
            await self._send_json(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
            await self.ws.close()
        except ConnectionClosed:
            pass
        await self._closed.wait()
