"""Voice Live token usage summed from response.done, and its estimated cost in USD (pure)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

USAGE_FIELDS = (
    "input_text_tokens",
    "input_audio_tokens",
    "cached_text_tokens",
    "cached_audio_tokens",
    "output_text_tokens",
    "output_audio_tokens",
)


@dataclass(frozen=True)
class Prices:
    """USD per 1M tokens. Defaults: Voice Live Pro tier (gpt-realtime), East US, Feb 2026 list."""

    audio_in: float = 35.20
    audio_cached: float = 0.44
    audio_out: float = 70.40
    text_in: float = 4.40
    text_cached: float = 1.375
    text_out: float = 17.60

    @classmethod
    def parse(cls, spec: str) -> Prices:
        """'audio_in=11,audio_out=22' overrides some defaults; ValueError says what is wrong."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep or name not in known:
                raise ValueError(f"unknown price {name!r}; known: {', '.join(sorted(known))}")
            try:
                values[name] = float(raw)
            except ValueError:
                raise ValueError(f"price {name} must be a number; got {raw.strip()!r}") from None
            if values[name] < 0:
                raise ValueError(f"price {name} must not be negative")
        return cls(**values)


def _n(obj: Any, *path: str) -> int:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return int(obj) if isinstance(obj, int | float) else 0


def cached_split_estimated(usage: dict[str, Any]) -> bool:
    """True when usage has cached tokens but no cached_tokens_details (as the API reference's
    example): their split between text and audio is then an estimate."""
    details = usage.get("input_token_details")
    details = details if isinstance(details, dict) else {}
    return _n(details, "cached_tokens") > 0 and not isinstance(
        details.get("cached_tokens_details"), dict
    )


def usage_tokens(usage: dict[str, Any]) -> dict[str, int]:
    """The six token counts of one response.done usage object (input counts include cached).

    Without cached_tokens_details, `cached_tokens` is split between text and audio in
    proportion to the text and audio input (see cached_split_estimated)."""
    if cached_split_estimated(usage):
        cached = _n(usage, "input_token_details", "cached_tokens")
        text = _n(usage, "input_token_details", "text_tokens")
        audio = _n(usage, "input_token_details", "audio_tokens")
        cached = min(cached, text + audio) if text + audio else cached
        cached_text = round(cached * text / (text + audio)) if text + audio else cached
        return {
            "input_text_tokens": text,
            "input_audio_tokens": audio,
            "cached_text_tokens": cached_text,
            "cached_audio_tokens": cached - cached_text,
            "output_text_tokens": _n(usage, "output_token_details", "text_tokens"),
            "output_audio_tokens": _n(usage, "output_token_details", "audio_tokens"),
        }
    return {
        "input_text_tokens": _n(usage, "input_token_details", "text_tokens"),
        "input_audio_tokens": _n(usage, "input_token_details", "audio_tokens"),
        "cached_text_tokens": _n(usage, "input_token_details", "cached_tokens_details",
                                 "text_tokens"),
        "cached_audio_tokens": _n(usage, "input_token_details", "cached_tokens_details",
                                  "audio_tokens"),
        "output_text_tokens": _n(usage, "output_token_details", "text_tokens"),
        "output_audio_tokens": _n(usage, "output_token_details", "audio_tokens"),
    }  # fmt: skip


def cost_usd(tokens: dict[str, int], prices: Prices) -> float:
    """Estimated cost: cached input at the cached price, the rest of the input at full price."""
    text_fresh = max(tokens["input_text_tokens"] - tokens["cached_text_tokens"], 0)
    audio_fresh = max(tokens["input_audio_tokens"] - tokens["cached_audio_tokens"], 0)
    total = (
        text_fresh * prices.text_in
        + tokens["cached_text_tokens"] * prices.text_cached
        + tokens["output_text_tokens"] * prices.text_out
        + audio_fresh * prices.audio_in
        + tokens["cached_audio_tokens"] * prices.audio_cached
        + tokens["output_audio_tokens"] * prices.audio_out
    )
    return total / 1_000_000
