"""One call's recording: audio handed over in O(1) per frame, mixed and FLAC-encoded by a thread."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import soundfile
import structlog

from bot.call.commands import ClearPlayout, Command, SendAudio
from bot.recording.mixer import RATE, Mixer

log = structlog.get_logger("bot.recording")

MAX_PENDING = 1500  # items waiting for the writer thread: ~15 s of both sides
WAKE_S = 1.0  # the writer thread drains what is pending this often (issue 18: 4x fewer wake-ups)
FLUSH_S = 2.0  # encoded audio is handed to the sink this often: what a crash may lose
# FLAC level 0 (fixed blocks, no LPC search): ~7 KB of encoder state per call instead of
# ~370 KB at libsndfile's default, and half its CPU, for files ~11% larger (issue 18).
FLAC_LEVEL = 0.0
CLOSE_TIMEOUT_S = 20.0  # the end of the call waits this long for the last write and upload

_CALLER, _BOT, _CLEAR = 0, 1, 2


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """A stored recording: its size in bytes, its length, and whether it was finished."""

    bytes: int
    duration_s: float | None
    complete: bool = True


class Sink(Protocol):
    """Where the encoder's file goes: the thread calls these (blocking I/O is fine there)."""

    path: Path  # the local file the encoder writes

    def flushed(self) -> None:
        """New encoded bytes are on disk: make them durable (upload them)."""

    def finished(self, info: RecordingInfo) -> None:
        """The file is complete: publish it."""

    def discard(self) -> None:
        """Delete everything written (the caller opted out)."""


class NotRecording:
    """A call that is not recorded (RECORDING=off, no notice to give): every call is a no-op."""

    def caller(self, mulaw: bytes, now: float) -> None:
        pass

    def command(self, command: Command, now: float) -> None:
        pass

    def stop(self) -> None:
        pass

    async def close(self, now: float | None = None) -> RecordingInfo | None:
        return None


class CallRecording:
    """Takes both sides of one call from the event loop and writes them on its own thread.

    `caller`, `bot` and `clear` only append to a bounded deque (a full one drops the item
    and counts it); the thread owns the mixer, the encoder and the sink, so the event loop
    never waits on a disk or the network. `close` and `discard` wait for the thread (bounded).
    """

    def __init__(self, sink: Sink, t0: float, call_sid: str) -> None:
        self.sink = sink
        self.call_sid = call_sid
        self.mixer = Mixer(t0)
        self.dropped = 0
        self.info: RecordingInfo | None = None
        self._items: deque[tuple[int, float, bytes]] = deque()
        self._stop = threading.Event()
        self._end: tuple[str, float] | None = None  # ("close" | "discard", when)
        self._done = threading.Event()
        context = contextvars.copy_context()  # the call's log bindings, on its thread too
        self._thread = threading.Thread(target=context.run, args=(self._run,),
                                        name=f"recording-{call_sid}", daemon=True)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    # ---- the event loop's side: O(1), no I/O ---------------------------------------------------

    def _put(self, kind: int, now: float, data: bytes) -> None:
        if len(self._items) < MAX_PENDING:
            self._items.append((kind, now, data))
        else:
            self.dropped += 1

    def caller(self, mulaw: bytes, now: float) -> None:
        """A frame of the caller's audio, as received at `now` (the per-frame path)."""
        if len(self._items) < MAX_PENDING:
            self._items.append((_CALLER, now, mulaw))
        else:
            self.dropped += 1

    def bot(self, mulaw: bytes, now: float) -> None:
        self._put(_BOT, now, mulaw)

    def clear(self, now: float) -> None:
        self._put(_CLEAR, now, b"")

    def command(self, command: Command, now: float) -> None:
        """A command to Twilio, as the shell sends it at `now`: the bot's audio, or a clear."""
        if isinstance(command, SendAudio):
            self._put(_BOT, now, command.audio)
        elif isinstance(command, ClearPlayout):
            self._put(_CLEAR, now, b"")

    def stop(self) -> None:
        """The caller opted out: stop now; the thread deletes what was written."""
        if self._end is None:
            self._end = ("discard", time.monotonic())
            self._stop.set()

    async def close(self, now: float | None = None) -> RecordingInfo | None:
        """The call ended: write what is left, finish the file, publish it."""
        return await self._finish("close", time.monotonic() if now is None else now)

    async def discard(self) -> None:
        """Stop recording and delete what was written."""
        await self._finish("discard", time.monotonic())

    async def _finish(self, how: str, now: float) -> RecordingInfo | None:
        if self._end is None:
            self._end = (how, now)
            self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._done.wait, CLOSE_TIMEOUT_S)
        if not self._done.is_set():
            log.error("recording.close_timeout", call_sid=self.call_sid, how=how)
        if self.dropped:
            log.warning("recording.frames_dropped", call_sid=self.call_sid, items=self.dropped)
        return self.info

    # ---- the writer thread ---------------------------------------------------------------------

    def _drain(self) -> None:
        mixer, items = self.mixer, self._items
        while items:
            kind, now, data = items.popleft()
            if kind == _CALLER:
                mixer.caller(now, data)
            elif kind == _BOT:
                mixer.bot(now, data)
            else:
                mixer.clear(now)

    def _flushed(self) -> None:
        """Hand the new bytes to the sink; a failed upload is tried again at the next flush."""
        try:
            self.sink.flushed()
        except Exception as exc:
            log.warning("recording.flush_failed", call_sid=self.call_sid,
                        error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    def _run(self) -> None:
        try:
            self._record()
        except Exception as exc:  # a full disk or a storage outage must not end the call
            log.error("recording.failed", call_sid=self.call_sid,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        finally:
            self._done.set()

    def _record(self) -> None:
        self.sink.path.parent.mkdir(parents=True, exist_ok=True)
        frames = 0
        with soundfile.SoundFile(self.sink.path, "w", samplerate=RATE, channels=2,
                                 format="FLAC", subtype="PCM_16",
                                 compression_level=FLAC_LEVEL) as out:  # fmt: skip
            flushed_at = time.monotonic()
            while not self._stop.wait(WAKE_S):
                self._drain()
                block = self.mixer.take()
                if len(block):
                    out.write(block)
                    frames += len(block)
                if time.monotonic() - flushed_at >= FLUSH_S:
                    out.flush()
                    self._flushed()
                    flushed_at = time.monotonic()
            how, when = self._end or ("close", time.monotonic())
            if how == "close":
                self._drain()
                # The call ended when its audio stopped coming (Twilio sends a frame every
                # 20 ms), not when the shell got round to closing the recording.
                last = self.mixer.t0 + self.mixer.newest / RATE + 0.02
                block = self.mixer.end(min(when, last))
                if len(block):
                    out.write(block)
                    frames += len(block)
        if how == "discard":
            self.sink.discard()
            log.info("recording.discarded", call_sid=self.call_sid)
            return
        info = RecordingInfo(self.sink.path.stat().st_size, round(frames / RATE, 3))
        self.sink.finished(info)
        self.info = info
        log.info("recording.saved", call_sid=self.call_sid, bytes=info.bytes,
                 duration_s=info.duration_s)  # fmt: skip
