"""A recording's two channels on one sample clock: the caller as received, the bot as played."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bot.audio.g711 import ULAW_TO_PCM

RATE = 8000  # samples per second: Twilio's μ-law, one byte per sample
SILENCE = 0xFF  # μ-law code of 0
JITTER = RATE // 10  # a caller frame later than this behind its arrival is placed at arrival
HOLD = RATE // 5  # held back from the newest instant seen: late caller frames still fit


class Mixer:
    """Places μ-law audio on a timeline of samples since `t0` (a monotonic instant) and hands
    out finished stereo frames (left: caller, right: bot). Pure: times are passed in.

    The caller's frames follow each other as received (nothing dropped or reordered); after a
    gap (the caller's audio stopped arriving) the next frame is placed at its arrival. The
    bot's audio is placed by the playout clock, as the caller's phone plays it: a message
    starts when it is sent or when the audio before it ends, whichever is later; a `clear`
    cuts what had not played by then, so it is silence in the recording.
    """

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.written = 0  # samples handed out so far
        self.caller_end = 0  # where the caller's next frame goes (at the earliest)
        self.bot_end = 0  # where the bot's next message starts playing (at the earliest)
        self.newest = 0  # the newest instant seen, as a sample position
        self._caller = bytearray()  # μ-law from `written` on
        self._bot = bytearray()

    def pos(self, now: float) -> int:
        return max(round((now - self.t0) * RATE), 0)

    def _seen(self, now: float) -> int:
        p = self.pos(now)
        self.newest = max(self.newest, p)
        return p

    @staticmethod
    def _place(buf: bytearray, offset: int, data: bytes) -> None:
        if len(buf) < offset:
            buf.extend(b"\xff" * (offset - len(buf)))
        buf[offset : offset + len(data)] = data

    def caller(self, now: float, mulaw: bytes) -> None:
        """A caller frame that arrived at `now`."""
        arrived = self._seen(now) - len(mulaw)
        start = self.caller_end
        if arrived - start > JITTER:
            start = arrived
        start = max(start, self.written)
        self._place(self._caller, start - self.written, mulaw)
        self.caller_end = start + len(mulaw)

    def bot(self, now: float, mulaw: bytes) -> None:
        """A message of the bot's audio sent to the caller at `now`."""
        start = max(self._seen(now), self.bot_end, self.written)
        self._place(self._bot, start - self.written, mulaw)
        self.bot_end = start + len(mulaw)

    def clear(self, now: float) -> None:
        """The bot's audio was cleared at `now`: what had not played is cut."""
        cut = max(self._seen(now), self.written)
        del self._bot[cut - self.written :]
        self.bot_end = min(self.bot_end, cut)

    def take(self, final: bool = False) -> npt.NDArray[np.int16]:
        """The stereo frames (n, 2) that can no longer change; `final`: everything left."""
        if final:
            end = max(self.written + len(self._caller), self.written + len(self._bot))
        else:
            end = self.newest - HOLD
        n = end - self.written
        if n <= 0:
            return np.zeros((0, 2), dtype=np.int16)
        out = np.empty((n, 2), dtype=np.int16)
        for channel, buf in enumerate((self._caller, self._bot)):
            have = min(len(buf), n)
            codes = np.full(n, SILENCE, dtype=np.uint8)
            codes[:have] = np.frombuffer(bytes(buf[:have]), dtype=np.uint8)
            out[:, channel] = ULAW_TO_PCM.take(codes)
            del buf[:have]
        self.written = end
        return out

    def end(self, now: float) -> npt.NDArray[np.int16]:
        """The call ended at `now`: the bot's audio not played by then is cut; all that is left."""
        self.clear(now)
        return self.take(final=True)
