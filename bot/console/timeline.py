"""The call's timeline as SVG: caller and bot speech as bands on one axis, and its events."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH = 960
LEFT = 70
RIGHT = 20
ROWS = {"caller": 28, "bot": 62}  # band rows (y of the band's top)
BAND_H = 24
MARKS_Y = 108  # the row of point events
AXIS_Y = 132
HEIGHT = 156
DEFAULT_CALLER_MS = 3000.0  # a caller turn with no measured end (older records)
# Point events the console knows how to draw; any other kind is drawn as a plain dot.
KNOWN = {
    "barge_in": "Barge-in",
    "key": "Key",
    "response": "Response time",
    "reconnect": "Reconnect",
    "silence_prompt": "Silence prompt",
    "silence_check": "Silence check",
}


@dataclass(frozen=True)
class Band:
    """One stretch of speech: who, from and to (ms into the call), cut off or not."""

    who: str
    start_ms: float
    end_ms: float
    interrupted: bool = False


def _points(events: list[dict[str, Any]], kind: str) -> list[float]:
    return sorted(float(e["offset_ms"]) for e in events if e.get("kind") == kind)


def bands(call: dict[str, Any]) -> list[Band]:
    """Speech bands from the call's events; from its transcript when it has no events."""
    events = [e for e in call.get("events") or [] if isinstance(e.get("offset_ms"), int | float)]
    total = float(call.get("duration_s") or 0) * 1000
    speech = [e for e in events if e.get("kind") == "speech"]
    if not speech:  # a record from before events: the turns, each until the next
        turns = call.get("transcript") or []
        speech = [{"who": t["speaker"], "offset_ms": t["offset_ms"], "duration_ms": None,
                   "interrupted": t.get("interrupted")} for t in turns]  # fmt: skip
    starts = sorted(float(e["offset_ms"]) for e in speech)
    responses = _points(events, "response")
    barge_ins = _points(events, "barge_in")
    out = []
    for e in speech:
        start = float(e["offset_ms"])
        later = [s for s in starts if s > start]
        limit = min([*later[:1], total or float("inf")])
        if e.get("duration_ms"):
            end = start + float(e["duration_ms"])
        else:  # the caller stopped where the response time began
            stop = [r for r in responses if r > start]
            end = stop[0] if stop else start + DEFAULT_CALLER_MS
        if e.get("interrupted"):
            cut = [b for b in barge_ins if b > start]
            end = min(end, cut[0]) if cut else end
        end = max(start + 1, min(end, limit) if e.get("who") == "caller" else end)
        out.append(Band(str(e.get("who")), start, end, bool(e.get("interrupted"))))
    return out


def _seconds(ms: float) -> str:
    s = ms / 1000
    return f"{int(s // 60)}:{s % 60:04.1f}"


def _step(total_ms: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if total_ms / (step * 1000) <= 12:
            return step * 1000.0
    return 1_200_000.0


def timeline_svg(call: dict[str, Any]) -> str:
    """The timeline picture; every band and point is focusable and carries data-t (seconds)."""
    drawn = bands(call)
    events = [e for e in call.get("events") or [] if isinstance(e.get("offset_ms"), int | float)]
    ends = [b.end_ms for b in drawn] + [float(e["offset_ms"]) for e in events]
    total = max([float(call.get("duration_s") or 0) * 1000, *ends, 1000.0])
    scale = (WIDTH - LEFT - RIGHT) / total

    def x(ms: float) -> float:
        return round(LEFT + ms * scale, 1)

    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="group" '
        f'aria-label="Call timeline, {escape(_seconds(total))} long" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for who, y in ROWS.items():
        label = "Caller" if who == "caller" else "Bot"
        parts.append(f'<text x="8" y="{y + 17}" class="tl-label">{label}</text>')
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH - LEFT - RIGHT}" '
                     f'height="{BAND_H}" class="tl-lane"/>')  # fmt: skip
    for b in drawn:
        cls = f"tl-band tl-{escape(b.who)}" + (" tl-cut" if b.interrupted else "")
        y = ROWS.get(b.who, ROWS["caller"])
        what = f"{'Caller' if b.who == 'caller' else 'Bot'} speaking {_seconds(b.start_ms)}"
        what += f" to {_seconds(b.end_ms)}" + (", cut off" if b.interrupted else "")
        parts.append(
            f'<rect class="{cls}" x="{x(b.start_ms)}" y="{y}" '
            f'width="{max(round((b.end_ms - b.start_ms) * scale, 1), 1.5)}" height="{BAND_H}" '
            f'data-t="{b.start_ms / 1000:.2f}" tabindex="0" role="button" '
            f'aria-label="{escape(what)}"><title>{escape(what)}</title></rect>'
        )
    parts.append(f'<text x="8" y="{MARKS_Y + 4}" class="tl-label">Events</text>')
    for e in events:
        kind = str(e.get("kind"))
        if kind == "speech":
            continue
        at = float(e["offset_ms"])
        name = KNOWN.get(kind, kind.replace("_", " ").capitalize())
        detail = {"key": e.get("key"), "response": f"{e.get('ms')} ms"}.get(kind)
        if kind == "reconnect" and e.get("ms") is not None:
            detail = f"{e.get('ms')} ms"
        what = f"{name}{f' ({detail})' if detail else ''} at {_seconds(at)}"
        cls = f"tl-mark tl-{escape(kind) if kind in KNOWN else 'other'}"
        common = (f'class="{cls}" data-t="{at / 1000:.2f}" tabindex="0" role="button" '
                  f'aria-label="{escape(what)}"')  # fmt: skip
        title = f"<title>{escape(what)}</title>"
        if kind == "response":  # a bracket from the caller's stop to the bot's first audio
            x1, x2 = x(at), x(at + float(e.get("ms") or 0))
            parts.append(f'<line x1="{x1}" x2="{x2}" y1="{ROWS["bot"] - 4}" '
                         f'y2="{ROWS["bot"] - 4}" {common}>{title}</line>')  # fmt: skip
        elif kind == "barge_in":
            cx = x(at)
            parts.append(f'<path d="M{cx - 6},{MARKS_Y - 7} L{cx + 6},{MARKS_Y - 7} '
                         f'L{cx},{MARKS_Y + 5} Z" {common}>{title}</path>')  # fmt: skip
        else:
            parts.append(f'<circle cx="{x(at)}" cy="{MARKS_Y}" r="6" {common}>{title}</circle>')
    step = _step(total)
    tick = 0.0
    while tick <= total:
        parts.append(f'<line class="tl-tick" x1="{x(tick)}" x2="{x(tick)}" y1="{AXIS_Y - 4}" '
                     f'y2="{AXIS_Y + 2}"/><text class="tl-axis" x="{x(tick)}" '
                     f'y="{AXIS_Y + 16}" text-anchor="middle">{_seconds(tick)}</text>')  # fmt: skip
        tick += step
    parts.append(f'<line class="tl-tick" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                 f'y1="{AXIS_Y - 4}" y2="{AXIS_Y - 4}"/></svg>')  # fmt: skip
    return "".join(parts)
