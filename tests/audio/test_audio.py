"""Tests for the telephone audio path: G.711, resamplers, transcoders (signals made here)."""

import warnings
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
import pytest

from bot.audio import (
    FRAME_BYTES,
    ULAW_SILENCE,
    Downsampler,
    PassthroughTranscoder,
    PcmTranscoder,
    Transcoder,
    Upsampler,
    make_transcoder,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference: built in up to 3.12, audioop-lts from 3.13

LOW, HIGH = 8000, 24000
Resampler = Upsampler | Downsampler
Int16 = npt.NDArray[np.int16]
ODD_SIZES = [1, 7, 2, 159, 161, 3, 479, 481, 1000, 5, 160, 480, 13]


def tone(freq: float, rate: int, seconds: float, amplitude: float = 20000.0) -> Int16:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t + 0.3)).astype(np.int16)


def noise(count: int, seed: int, scale: float = 6000.0) -> Int16:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, scale, count), -32768, 32767).astype(np.int16)


def square(freq: float, rate: int, seconds: float) -> Int16:
    t = np.arange(int(rate * seconds)) / rate
    return np.where(np.sin(2 * np.pi * freq * t) >= 0, 32767, -32768).astype(np.int16)


def stream(resampler: Resampler, signal: Int16, sizes: Iterable[int]) -> Int16:
    """Feed `signal` in chunks of the given sizes (cycled) and join the outputs."""
    sizes = list(sizes)
    parts, start, i = [], 0, 0
    while start < len(signal):
        parts.append(resampler.process(signal[start : start + sizes[i % len(sizes)]]))
        start += sizes[i % len(sizes)]
        i += 1
    return np.concatenate(parts)


def fit_many(
    signal: npt.NDArray[np.generic], freqs: list[float], rate: int
) -> tuple[list[float], np.ndarray]:
    """Amplitudes of sinusoids at `freqs` (joint least squares) and what is left over."""
    t = np.arange(len(signal)) / rate
    rows = [np.ones_like(t)]
    for freq in freqs:
        rows += [np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)]
    basis = np.stack(rows)
    y = signal.astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis.T, y, rcond=None)
    amplitudes = [float(np.hypot(coef[1 + 2 * i], coef[2 + 2 * i])) for i in range(len(freqs))]
    return amplitudes, y - coef @ basis


def fit(signal: npt.NDArray[np.generic], freq: float, rate: int) -> tuple[float, np.ndarray]:
    """Amplitude of the sinusoid at `freq` (least squares) and what is left of the signal."""
    amplitudes, residue = fit_many(signal, [freq], rate)
    return amplitudes[0], residue


def rms(x: npt.NDArray[np.generic]) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))


def db(ratio: float) -> float:
    return 20 * np.log10(ratio)


# --- G.711 -------------------------------------------------------------------------


def test_ulaw_decode_is_bit_exact_for_all_256_codes() -> None:
    codes = bytes(range(256))
    reference = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype=np.int16)
    decoded = ulaw_to_pcm16(codes)
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, reference)


def test_ulaw_encode_is_bit_exact_for_all_65536_inputs() -> None:
    pcm = np.arange(-32768, 32768).astype(np.int16)
    assert pcm16_to_ulaw(pcm) == audioop.lin2ulaw(pcm.tobytes(), 2)


def test_ulaw_constants_and_zero() -> None:
    assert FRAME_BYTES == 160
    assert ULAW_SILENCE == 0xFF
    assert ulaw_to_pcm16(bytes([ULAW_SILENCE])).tolist() == [0]
    assert pcm16_to_ulaw(np.zeros(3, dtype=np.int16)) == bytes([ULAW_SILENCE]) * 3


def test_ulaw_encode_saturates_wider_integers() -> None:
    wide = np.array([40000, 32768, 32767, -32768, -32769, -40000, 2**31 - 1, -(2**31)])
    saturated = np.array([32767] * 3 + [-32768] * 3 + [32767, -32768], dtype=np.int16)
    expected = audioop.lin2ulaw(saturated.tobytes(), 2)
    assert pcm16_to_ulaw(wide.astype(np.int32)) == expected
    assert pcm16_to_ulaw(wide.astype(np.int64)) == expected


# --- resampler quality ---------------------------------------------------------------


def test_downsampler_rejects_everything_that_would_alias_by_70_db() -> None:
    worst = np.inf
    # fine steps over the first sidelobes (where rejection is least), coarser above
    sweep = np.concatenate([np.arange(4600.0, 5200.0, 20.0), np.arange(5200.0, 11501.0, 100.0)])
    for freq in sweep:
        tone_in = tone(freq, HIGH, 0.12)
        out = stream(Downsampler(), tone_in, [480])[100:]  # past the filter's start
        worst = min(worst, db(rms(tone_in) / max(rms(out), 1e-9)))  # 0: below 1/2 LSB
    assert worst >= 70.0, f"worst stopband rejection {worst:.1f} dB"


def test_downsampler_1k_plus_6k_mixture_keeps_1k_and_drops_the_2k_whistle() -> None:
    mixture = (tone(1000, HIGH, 0.2, 12000).astype(np.int32) + tone(6000, HIGH, 0.2, 12000)).astype(
        np.int16
    )
    out = stream(Downsampler(), mixture, [480])[100:]
    (kept, whistle), _ = fit_many(out, [1000, 2000], LOW)  # 6 kHz would fold to 2 kHz
    assert abs(db(kept / 12000)) < 0.1
    assert db(12000 / whistle) >= 70.0


def test_upsampler_images_of_telephone_band_tones_are_70_db_down() -> None:
    worst = np.inf
    for freq in np.arange(300.0, 3401.0, 100.0):
        out = stream(Upsampler(), tone(freq, LOW, 0.1), [160])[300:]
        amplitude, residue = fit(out, freq, HIGH)  # the residue holds every image (>= 4.6 kHz)
        worst = min(worst, db(amplitude / np.sqrt(2) / rms(residue)))
    assert worst >= 70.0, f"worst image rejection {worst:.1f} dB"


@pytest.mark.parametrize(
    ("make", "rate_in", "rate_out", "frame"),
    [(Upsampler, LOW, HIGH, 160), (Downsampler, HIGH, LOW, 480)],
)
def test_passband_300_to_3400_hz_is_flat_within_half_a_db(
    make: Callable[[], Resampler], rate_in: int, rate_out: int, frame: int
) -> None:
    gains = []
    for freq in np.arange(300.0, 3401.0, 50.0):
        out = stream(make(), tone(freq, rate_in, 0.1), [frame])
        amplitude, _ = fit(out[len(out) // 4 :], freq, rate_out)
        gains.append(db(amplitude / 20000))
    assert max(abs(g) for g in gains) <= 0.5, f"gain range {min(gains):.3f}..{max(gains):.3f} dB"


# --- streaming -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "rate", "frame"), [(Upsampler, LOW, 160), (Downsampler, HIGH, 480)]
)
def test_framewise_equals_whole_signal_within_one_lsb(
    make: Callable[[], Resampler], rate: int, frame: int
) -> None:
    signal = noise(rate, seed=1)  # one second
    whole = make().process(signal)
    for sizes in ([frame], ODD_SIZES):
        parts = stream(make(), signal, sizes)
        assert len(parts) == len(whole)
        assert np.abs(parts.astype(np.int32) - whole).max() <= 1
    short = signal[: rate // 8]
    one_by_one = stream(make(), short, [1])
    assert np.abs(one_by_one.astype(np.int32) - make().process(short)).max() <= 1


def test_upsampler_returns_three_samples_per_input_every_call() -> None:
    up = Upsampler()
    for size in ODD_SIZES:
        assert len(up.process(noise(size, seed=size))) == 3 * size
    assert len(up.process(np.zeros(0, dtype=np.int16))) == 0


def test_downsampler_keeps_the_phase_across_any_call_size() -> None:
    down, fed, out = Downsampler(), 0, 0
    for size in ODD_SIZES:
        out += len(down.process(noise(size, seed=size)))
        fed += size
        assert out == -(-fed // 3)  # every output as soon as its input is in: nothing held back


def lag_up(signal8: Int16, out24: Int16) -> int:
    """The lag L (24 kHz samples) that best lines up out24[3j + L] with signal8[j]."""
    x, y = signal8.astype(np.float64), out24.astype(np.float64)
    return int(np.argmax([np.dot(y[lag::3], x[: len(y[lag::3])]) for lag in range(360)]))


def lag_down(signal24: Int16, out8: Int16) -> int:
    """The lag L (24 kHz samples) that best lines up out8[m] with signal24[3m - L]."""
    x, y, scores = signal24.astype(np.float64), out8.astype(np.float64), []
    for lag in range(360):
        first = -(-lag // 3)
        scores.append(np.dot(y[first:], x[3 * np.arange(first, len(y)) - lag]))
    return int(np.argmax(scores))


def test_measured_delay_is_at_most_5_ms_each_way() -> None:
    signal8 = noise(LOW, seed=2)
    up_out = stream(Upsampler(), signal8, [160])
    up_lag = lag_up(signal8, up_out)

    signal24 = noise(HIGH, seed=3)
    down_out = stream(Downsampler(), signal24, [480])
    down_lag = lag_down(signal24, down_out)

    for lag, declared in ((up_lag, Upsampler().delay_ms), (down_lag, Downsampler().delay_ms)):
        measured_ms = lag / 24
        assert measured_ms <= 5.0
        assert abs(measured_ms - declared) <= 1 / 24 + 1e-9


# --- levels ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "rate", "frame"), [(Upsampler, LOW, 160), (Downsampler, HIGH, 480)]
)
def test_full_scale_square_wave_saturates_without_wraparound(
    make: Callable[[], Resampler], rate: int, frame: int
) -> None:
    full = square(700, rate, 0.1)
    out = stream(make(), full, [frame]).astype(np.int32)
    half = stream(make(), (full // 2).astype(np.int16), [frame]).astype(np.int32)
    ideal = 2 * half  # the same filter, no clipping needed at half scale
    assert ideal.max() > 32767 and ideal.min() < -32768  # the filter does overshoot
    np.testing.assert_array_equal(out[ideal > 32770], 32767)
    np.testing.assert_array_equal(out[ideal < -32770], -32768)
    loud = np.abs(ideal) > 1000
    assert np.array_equal(np.sign(out[loud]), np.sign(ideal[loud]))  # no sign flips
    assert np.abs(out - np.clip(ideal, -32768, 32767)).max() <= 3


def test_transcoder_full_scale_both_ways_saturates_and_never_flips_sign() -> None:
    loud_ulaw = pcm16_to_ulaw(square(500, LOW, 0.2))
    model = np.frombuffer(PcmTranscoder().inbound(loud_ulaw), dtype="<i2").astype(np.int32)
    ideal = 2 * Upsampler().process(ulaw_to_pcm16(loud_ulaw) // 2).astype(np.int32)
    assert model.max() == 32767 and model.min() == -32768
    loud = np.abs(ideal) > 1000
    assert np.array_equal(np.sign(model[loud]), np.sign(ideal[loud]))

    full = square(500, HIGH, 0.2)
    caller = ulaw_to_pcm16(PcmTranscoder().outbound(full.astype("<i2").tobytes()))
    ideal = 2 * Downsampler().process(full // 2).astype(np.int32)
    assert caller.max() == 32124 and caller.min() == -32124  # the largest μ-law levels
    loud = np.abs(ideal) > 1000
    assert np.array_equal(np.sign(caller[loud]), np.sign(ideal[loud]))


def test_silence_round_trip_is_exact() -> None:
    codec = PcmTranscoder()
    silent_frame = bytes([ULAW_SILENCE]) * FRAME_BYTES
    for _ in range(10):
        assert codec.inbound(silent_frame) == bytes(6 * FRAME_BYTES)
        assert codec.outbound(bytes(960 * 2)) == silent_frame * 2


def test_silence_after_speech_becomes_exact_zero_once_the_filter_has_flushed() -> None:
    up, down = Upsampler(), Downsampler()
    up.process(noise(160, seed=4))
    down.process(noise(480, seed=5))
    up_tail = up.process(np.zeros(160, dtype=np.int16))
    down_tail = down.process(np.zeros(480, dtype=np.int16))
    assert np.any(up_tail[:96]) and np.any(down_tail[:32])  # the tails exist...
    assert not np.any(up_tail[96:]) and not np.any(down_tail[32:])  # ...then exact zero


# --- transcoders -----------------------------------------------------------------------


def test_reset_outbound_drops_the_tail_of_the_old_response() -> None:
    speech = tone(1000, HIGH, 0.1).astype("<i2").tobytes()
    silence = bytes(480 * 2)

    codec = PcmTranscoder()
    codec.outbound(speech)
    assert set(codec.outbound(silence)[:16]) != {ULAW_SILENCE}  # without reset: a tail

    codec = PcmTranscoder()
    codec.outbound(speech + b"\x7f")  # an odd byte is carried too
    codec.reset_outbound()
    assert codec.outbound(silence) == bytes([ULAW_SILENCE]) * 160


def test_reset_outbound_leaves_the_inbound_stream_alone() -> None:
    caller = pcm16_to_ulaw(tone(440, LOW, 0.2))
    frames = [caller[i : i + FRAME_BYTES] for i in range(0, len(caller), FRAME_BYTES)]
    untouched = PcmTranscoder()
    reference = b"".join(untouched.inbound(frame) for frame in frames)
    codec = PcmTranscoder()
    got = []
    for frame in frames:
        got.append(codec.inbound(frame))
        codec.outbound(bytes(960))
        codec.reset_outbound()
    assert b"".join(got) == reference


def test_pcm_inbound_is_24k_little_endian_pcm16() -> None:
    caller = pcm16_to_ulaw(tone(1000, LOW, 0.1))
    model = PcmTranscoder().inbound(caller)
    assert len(model) == 6 * len(caller)
    expected = Upsampler().process(ulaw_to_pcm16(caller))
    assert model == expected.astype("<i2").tobytes()


def test_pcm_outbound_carries_an_odd_byte_to_the_next_call() -> None:
    audio = noise(HIGH // 2, seed=6).astype("<i2").tobytes()
    whole = PcmTranscoder().outbound(audio)
    codec, parts, start = PcmTranscoder(), [], 0
    for size in [1, 2, 333, 961, 7, 4800, 1]:
        parts.append(codec.outbound(audio[start : start + size]))
        start += size
    parts.append(codec.outbound(audio[start:]))
    pieces = b"".join(parts)
    assert len(pieces) == len(whole) == HIGH // 2 // 3
    same = np.frombuffer(pieces, np.uint8) == np.frombuffer(whole, np.uint8)
    assert same.mean() > 0.99  # at most a 1 LSB difference moves a code by one step
    diff = ulaw_to_pcm16(pieces).astype(np.int32) - ulaw_to_pcm16(whole)
    assert np.abs(diff).max() <= 1024


def test_pcm_outbound_accepts_one_byte_at_a_time() -> None:
    audio = noise(300, seed=7).astype("<i2").tobytes()
    codec = PcmTranscoder()
    joined = b"".join(codec.outbound(audio[i : i + 1]) for i in range(len(audio)))
    assert len(joined) == 100
    assert ulaw_to_pcm16(joined).tolist() == ulaw_to_pcm16(PcmTranscoder().outbound(audio)).tolist()


def test_passthrough_is_bit_exact_both_ways() -> None:
    payload = bytes(range(256)) * 5 + b"\x00\xff\x7f"
    codec = PassthroughTranscoder()
    assert codec.model_format == "g711_ulaw"
    for chunk in (payload, payload[:1], payload[:161], b""):
        assert codec.inbound(chunk) == chunk
        assert codec.outbound(chunk) == chunk
    codec.reset_outbound()
    assert codec.outbound(payload) == payload


def test_make_transcoder_picks_by_audio_format() -> None:
    pcm, ulaw = make_transcoder("pcm16"), make_transcoder("g711_ulaw")
    assert isinstance(pcm, PcmTranscoder) and pcm.model_format == "pcm16"
    assert isinstance(ulaw, PassthroughTranscoder) and ulaw.model_format == "g711_ulaw"
    assert isinstance(pcm, Transcoder) and isinstance(ulaw, Transcoder)


@pytest.mark.parametrize("bad", ["pcm24", "", "PCM16 "])
def test_make_transcoder_rejects_an_unknown_format_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        make_transcoder(bad)
