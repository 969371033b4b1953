"""Streaming 8 <-> 24 kHz resamplers: one polyphase FIR low-pass, evaluated block-wise."""

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from bot.audio.g711 import PCM_TO_ULAW, ULAW_TO_PCM

# Resampling filter: one linear-phase low-pass prototype at 24 kHz, used by both
# directions. Kaiser-windowed sinc, cutoff 4 kHz (half the 8 kHz rate), so its
# transition band 3.4-4.6 kHz is symmetric around the cutoff: the telephone band
# (<= 3.4 kHz) is flat, and everything that would alias into it or image out of it
# (>= 4.6 kHz) is > 75 dB down. With the cutoff at exactly a third of the 24 kHz
# Nyquist band every third tap is zero, so 8 kHz samples pass through the upsampler
# unchanged. 97 taps = 48 samples of group delay at 24 kHz = 16 at 8 kHz = 2.0 ms.

_RATIO: Final = 3  # 24 kHz / 8 kHz
_TAPS: Final = 97
_KAISER_BETA: Final = 7.5
_CENTER: Final = (_TAPS - 1) // 2
_DELAY_MS: Final = 1000.0 * _CENTER / 24000


def _prototype() -> npt.NDArray[np.float64]:
    offset = np.arange(_TAPS) - _CENTER
    taps = np.sinc(offset / _RATIO) / _RATIO * np.kaiser(_TAPS, _KAISER_BETA)
    taps[(offset % _RATIO == 0) & (offset != 0)] = 0.0  # exact zeros, not 1e-17
    # Unity gain at DC in every polyphase branch: a constant stays constant both ways.
    for phase in range(_RATIO):
        taps[phase::_RATIO] /= _RATIO * taps[phase::_RATIO].sum()
    return taps


_H: Final = _prototype()

# Both resamplers work on a float32 buffer holding the filter history followed by
# the new input (then zero padding). Outputs are computed in blocks with a single
# matrix product: block b reads the window buf[b * block_in : b * block_in + window]
# (overlapping windows, a strided view, no copy) and multiplies it by a fixed
# (window x block_out) matrix holding the polyphase taps. Outputs whose window
# reaches into the padding are not returned; the samples they need stay in the
# history for the next call. Rounding adds 32768.5 and truncates, which gives an
# index into a table that saturates (mode="clip"): int16 out, or μ-law directly.

_UP_BLOCK_IN: Final = 8  # measured fastest block size (8 kHz samples per block)
_UP_SPAN: Final = (_TAPS - 1) // _RATIO  # 32: earlier 8 kHz samples each output needs
_DOWN_BLOCK_OUT: Final = 8
_DOWN_SPAN: Final = _TAPS - 1  # 96: earlier 24 kHz samples each output needs
_WORK: Final = np.float32  # exact for int16 input; arithmetic error ~1e-3 LSB
_ROUND: Final = np.float32(32768.5)  # value + 32768.5, truncated = index of round(value)

# index (sample + 32768) -> sample / μ-law byte; out-of-range indices clip to the ends
_PCM16_BY_INDEX: Final = (np.arange(65536) - 32768).astype(np.int16)
PCM16LE_BY_INDEX: Final = _PCM16_BY_INDEX.astype("<i2")  # the model's byte order
ULAW_BY_INDEX: Final = PCM_TO_ULAW.take(_PCM16_BY_INDEX.view(np.uint16))
_ULAW_TO_WORK: Final = ULAW_TO_PCM.astype(_WORK)


def _up_matrix() -> npt.NDArray[np.float32]:
    # y[3j + p] = 3 * sum_k h[3k + p] * x[j - k], buffer z[t] = x[j0 - _UP_SPAN + t]
    block_out = _RATIO * _UP_BLOCK_IN
    mat = np.zeros((_UP_BLOCK_IN + _UP_SPAN, block_out))
    for j in range(_UP_BLOCK_IN):
        for p in range(_RATIO):
            for k, tap in enumerate(_H[p::_RATIO]):
                mat[j - k + _UP_SPAN, _RATIO * j + p] = _RATIO * tap
    return mat.astype(_WORK)


def _down_matrix() -> npt.NDArray[np.float32]:
    # y[m] = sum_k h[k] * x[3m - k], buffer z[t] = x[3 * m0 - _DOWN_SPAN + t]
    mat = np.zeros((_RATIO * (_DOWN_BLOCK_OUT - 1) + _TAPS, _DOWN_BLOCK_OUT))
    for m in range(_DOWN_BLOCK_OUT):
        for k, tap in enumerate(_H):
            mat[_RATIO * m - k + _DOWN_SPAN, m] = tap
    return mat.astype(_WORK)


class _Plan(NamedTuple):
    """Views into the work buffers for one (history length, call size) pair."""

    inp: npt.NDArray[np.float32]  # where the new samples go
    pad: npt.NDArray[np.float32] | None  # zeros after them, up to the last window's end
    windows: npt.NDArray[np.float32]  # (blocks, window), overlapping view of the buffer
    out: npt.NDArray[np.float32]  # (blocks, block_out)
    ready: npt.NDArray[np.float32]  # the outputs this call returns, flat
    index: npt.NDArray[np.intp]  # their rounded values + 32768
    keep_src: npt.NDArray[np.float32]  # samples still needed ...
    keep_dst: npt.NDArray[np.float32]  # ... moved to the front of the buffer
    next_history: int


class _StreamingFir:
    """Multirate FIR over a stream, evaluated block-wise; subclasses set the geometry."""

    _MAX_PLANS: Final = 64

    def __init__(self, matrix: npt.NDArray[np.float32], block_in: int, span: int) -> None:
        self._matrix = matrix
        self._window, self._block_out = matrix.shape
        self._block_in = block_in
        self._span = span
        self._history = span  # buffer samples before the next call's input
        self._buf = np.zeros(0, dtype=_WORK)
        self._out = np.zeros(0, dtype=_WORK)
        self._index = np.zeros(0, dtype=np.intp)
        self._plans: dict[tuple[int, int], _Plan] = {}

    def reset(self) -> None:
        """Forget all past input: the next call starts from silence."""
        self._buf.fill(0.0)
        self._history = self._span

    def _counts(self, total: int) -> tuple[int, int]:
        """(outputs ready, buffer samples consumed) when the buffer holds `total` samples."""
        raise NotImplementedError

    def _plan(self, count: int) -> _Plan:
        plan = self._plans.get((self._history, count))
        if plan is not None:
            return plan
        history = self._history
        total = history + count
        ready, consumed = self._counts(total)
        blocks = max(1, -(-ready // self._block_out))
        end = (blocks - 1) * self._block_in + self._window  # the last window's end
        if len(self._buf) < max(end, total) or len(self._out) < blocks * self._block_out:
            buf = np.zeros(max(end, total, len(self._buf)), dtype=_WORK)
            buf[:history] = self._buf[:history] if len(self._buf) else 0.0
            self._buf = buf
            self._out = np.zeros(blocks * self._block_out, dtype=_WORK)
            self._index = np.zeros(blocks * self._block_out, dtype=np.intp)
            self._plans.clear()
        elif len(self._plans) >= self._MAX_PLANS:
            self._plans.clear()
        buf, item = self._buf, self._buf.itemsize
        plan = _Plan(
            inp=buf[history:total],
            pad=buf[total:end] if end > total else None,
            windows=np.lib.stride_tricks.as_strided(
                buf, (blocks, self._window), (self._block_in * item, item), writeable=False
            ),
            out=self._out[: blocks * self._block_out].reshape(blocks, self._block_out),
            ready=self._out[:ready],
            index=self._index[:ready],
            keep_src=buf[consumed:total],
            keep_dst=buf[: total - consumed],
            next_history=total - consumed,
        )
        self._plans[(history, count)] = plan
        return plan

    def _run(self, plan: _Plan) -> npt.NDArray[np.intp]:
        """Filter what `plan.inp` holds; returns rounded outputs + 32768 (a reused buffer)."""
        if plan.pad is not None:
            plan.pad.fill(0.0)
        np.matmul(plan.windows, self._matrix, out=plan.out)
        np.copyto(plan.keep_dst, plan.keep_src)
        self._history = plan.next_history
        np.add(plan.ready, _ROUND, out=plan.index, casting="unsafe")
        return plan.index

    def _filter(self, samples: npt.ArrayLike) -> npt.NDArray[np.intp]:
        pcm = samples if isinstance(samples, np.ndarray) else np.asarray(samples)
        if pcm.ndim != 1:
            pcm = pcm.reshape(-1)
        plan = self._plan(len(pcm))
        np.copyto(plan.inp, pcm, casting="unsafe")
        return self._run(plan)

    def process(self, samples: npt.ArrayLike) -> npt.NDArray[np.int16]:
        """Filter the next chunk of the stream (int16); returns the int16 samples now ready.

        Outputs saturate at the int16 limits, they never wrap around.
        """
        return _PCM16_BY_INDEX.take(self._filter(samples), mode="clip")


class Upsampler(_StreamingFir):
    """8 kHz -> 24 kHz, streaming: exactly three output samples per input sample."""

    delay_ms: float = _DELAY_MS

    def __init__(self) -> None:
        super().__init__(_up_matrix(), _UP_BLOCK_IN, _UP_SPAN)

    def _counts(self, total: int) -> tuple[int, int]:
        count = total - _UP_SPAN
        return _RATIO * count, count

    def _filter_ulaw(self, mulaw: bytes) -> npt.NDArray[np.intp]:
        """Like `_filter`, decoding μ-law straight into the work buffer."""
        codes = np.frombuffer(mulaw, dtype=np.uint8)
        plan = self._plan(len(codes))
        _ULAW_TO_WORK.take(codes, out=plan.inp, mode="clip")  # codes are all in range
        return self._run(plan)


class Downsampler(_StreamingFir):
    """24 kHz -> 8 kHz, streaming, any call size (the 3:1 phase carries over)."""

    delay_ms: float = _DELAY_MS

    def __init__(self) -> None:
        super().__init__(_down_matrix(), _RATIO * _DOWN_BLOCK_OUT, _DOWN_SPAN)

    def _counts(self, total: int) -> tuple[int, int]:
        # Output j of this call needs buffer sample 3j + _DOWN_SPAN.
        ready = max(0, -(-(total - _DOWN_SPAN) // _RATIO))
        return ready, _RATIO * ready
