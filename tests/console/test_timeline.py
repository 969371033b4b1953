"""The call's timeline SVG from a known call record: bands where the speech was, events."""

from __future__ import annotations

import re
from typing import Any

from bot.console.timeline import LEFT, RIGHT, WIDTH, bands, timeline_svg

CALL: dict[str, Any] = {
    "duration_s": 20.0,
    "events": [
        {"kind": "speech", "who": "bot", "offset_ms": 0.0, "duration_ms": 4000.0},
        {"kind": "speech", "who": "caller", "offset_ms": 5000.0, "duration_ms": None},
        {"kind": "response", "offset_ms": 8000.0, "ms": 600.0},
        {
            "kind": "speech",
            "who": "bot",
            "offset_ms": 8600.0,
            "duration_ms": 6000.0,
            "interrupted": True,
        },
        {"kind": "barge_in", "offset_ms": 10000.0},
        {"kind": "key", "offset_ms": 12000.0, "key": "repeat"},
        {"kind": "silence_prompt", "offset_ms": 16000.0},
        {"kind": "something_new", "offset_ms": 18000.0},
    ],
    "transcript": [],
}


def _x(ms: float) -> float:
    return round(LEFT + ms * (WIDTH - LEFT - RIGHT) / 20000, 1)


def test_bands_are_where_the_speech_was() -> None:
    got = [(b.who, b.start_ms, b.end_ms, b.interrupted) for b in bands(CALL)]
    assert got == [
        ("bot", 0.0, 4000.0, False),
        ("caller", 5000.0, 8000.0, False),  # until the response time began
        ("bot", 8600.0, 10000.0, True),  # cut at the barge-in
    ]


def test_the_svg_draws_each_band_at_its_time_and_every_event() -> None:
    svg = timeline_svg(CALL)
    rects = re.findall(r'<rect class="tl-band tl-(\w+)[^"]*" x="([\d.]+)" y="\d+" '
                       r'width="([\d.]+)"', svg)  # fmt: skip
    assert [(who, float(x)) for who, x, _ in rects] == [
        ("bot", _x(0)),
        ("caller", _x(5000)),
        ("bot", _x(8600)),
    ]
    widths = [float(w) for _, _, w in rects]
    assert widths[1] == round(_x(8000) - _x(5000), 1)
    assert 'class="tl-band tl-bot tl-cut"' in svg
    assert 'class="tl-mark tl-barge_in" data-t="10.00"' in svg
    assert 'aria-label="Key (repeat) at 0:12.0"' in svg
    assert 'class="tl-mark tl-silence_prompt" data-t="16.00"' in svg
    assert 'class="tl-mark tl-other" data-t="18.00"' in svg  # an unknown kind, drawn plainly
    assert 'aria-label="Response time (600.0 ms) at 0:08.0"' in svg


def test_a_record_without_events_is_drawn_from_its_transcript() -> None:
    call = {"duration_s": 10.0, "events": [], "transcript": [
        {"speaker": "bot", "offset_ms": 100.0, "interrupted": False},
        {"speaker": "caller", "offset_ms": 2000.0, "interrupted": False},
    ]}  # fmt: skip
    assert [(b.who, b.start_ms) for b in bands(call)] == [("bot", 100.0), ("caller", 2000.0)]


def test_text_in_events_is_escaped() -> None:
    svg = timeline_svg({"duration_s": 1, "events": [
        {"kind": "key", "offset_ms": 10, "key": '<script>"x"</script>'}]})  # fmt: skip
    assert "<script>" not in svg and "&lt;script&gt;" in svg
