"""`bot softphone --cough/--hum MS@SECONDS`: parsed, refused with a clear message, reported."""

from __future__ import annotations

import argparse
import io

import numpy as np
import pytest

from bot.localengine import audio
from bot.localengine.callclock import CallReport, Timeline
from bot.softphone import add_arguments


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot softphone")
    add_arguments(p)
    return p


def test_bursts_are_parsed_and_repeatable() -> None:
    args = parser().parse_args(["--cough", "150@2", "--cough", "300@6.5", "--hum", "400@4"])
    assert args.cough == [(150, 2.0), (300, 6.5)] and args.hum == [(400, 4.0)]


@pytest.mark.parametrize("bad", ["150", "x@2", "150@-1", "10@2", "150@2@3"])
def test_a_bad_burst_is_refused_naming_the_form(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["--cough", bad])
    assert exit_.value.code == 2
    assert f"--cough: {bad!r}" in capsys.readouterr().err


def test_a_burst_is_reported_apart_and_a_clear_after_it_counts_as_a_cut() -> None:
    report = CallReport()
    line = Timeline(report, io.StringIO())
    line.burst(2000, "cough", 150, True)
    line.cleared(2260)
    line.burst(5000, "mm-hmm", 400, True)
    line.cleared(7000)  # long after: not this burst's doing
    assert [b.cut_after_ms for b in report.bursts] == [260, None]
    assert "cough at 2.00 s (150 ms, over the bot): bot cut off after 260 ms" in report.summary()
    assert "mm-hmm at 5.00 s (400 ms, over the bot): bot not interrupted" in report.summary()


def test_a_cough_is_broadband_a_hum_is_not() -> None:
    def high_share(x: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
        return float(spectrum[spectrum.size // 4 :].sum() / spectrum.sum())  # above 1 kHz

    cough, hum = audio.cough(150, 8000), audio.hum(400, 8000)
    assert cough.size == 1200 and hum.size == 3200
    assert high_share(cough) > 0.5 and high_share(hum) < 0.05
