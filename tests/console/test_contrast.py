"""The console's text colours pass WCAG AA contrast (4.5:1) on the backgrounds they are used on."""

from __future__ import annotations

import re
from pathlib import Path

CSS = (Path(__file__).resolve().parents[2] / "bot/console/static/console.css").read_text()
VARS = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b)", CSS))
# (text, background) pairs as the stylesheet uses them
PAIRS = [
    ("ink", "paper"), ("muted", "paper"), ("accent", "paper"), ("caller", "paper"),
    ("bot", "paper"), ("bad", "paper"), ("good", "paper"), ("ink", "#eef1f5"),
    ("#ffffff", "#10243e"), ("#ffffff", "accent"), ("accent", "#fff6d5"), ("ink", "#f8e3d6"),
    ("ink", "#dce8f7"), ("ink", "#f7dada"), ("ink", "#f3f4f6"),
]  # fmt: skip


def _luminance(colour: str) -> float:
    value = VARS.get(colour, colour).lstrip("#")
    value = "".join(c * 2 for c in value) if len(value) == 3 else value
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_text_colours_pass_wcag_aa() -> None:
    failing = []
    for text, background in PAIRS:
        high, low = sorted((_luminance(text), _luminance(background)), reverse=True)
        ratio = (high + 0.05) / (low + 0.05)
        if ratio < 4.5:
            failing.append(f"{text} on {background}: {ratio:.2f}")
    assert failing == []
    assert {"ink", "muted", "accent", "caller", "bot", "bad", "good"} <= set(VARS)
