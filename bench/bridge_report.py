"""The call bridge benchmark's Markdown: the table, the CPU and memory lines, the notes."""

from __future__ import annotations

import json
import os
from typing import Any

RAMP_PER_S = 20.0  # calls opened per second
SETTLE_S = 3.0  # seconds after the ramp before the window
DELTA_MS = 100  # model audio per delta
PACED_MS = 450  # caller-side buffer near the bot's default PLAYOUT_AHEAD_MS (500): paced


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return ">1000" if value == float("inf") else f"{value:.1f}"


def _shares(r: dict[str, Any]) -> tuple[float, float]:
    """Fractions of the offered caller audio and model audio relayed within the window."""
    offered_ms = r["calls"] * r["seconds"] * 1000
    return r["in_relayed_window"] * 20 / offered_ms, r["out_relayed_ms"] / offered_ms


def name_of(r: dict[str, Any]) -> str:
    if r["target"] == "relay-asgi":
        return "echo relay on the bot's server stack"
    if r["target"] != "bot":
        return "echo relay (baseline)"
    if r.get("audio_format", "pcm16") != "pcm16":
        return f"bot, AUDIO_FORMAT={r['audio_format']}"
    return "bot" if r.get("recording", "notice") != "off" else "bot, RECORDING=off"


def worst_p99(r: dict[str, Any]) -> float:
    return max(r["in_p99"] or float("inf"), r["out_p99"] or float("inf"))


def render(results: list[dict[str, Any]]) -> str:
    rows = [
        "| process under test | calls | inbound p50 / p99 / max ms | outbound p50 / p99 / max ms "
        "| CPU-s per call-minute | CPU % of one core | RSS MB | event-loop lag p99 ms "
        "| load-generator CPU % of one core | audio relayed in real time (in / out) "
        "| frames measured (in / out) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        share_in, share_out = _shares(r)
        lag = r.get("target_lag_p99")
        rows.append(
            f"| {name_of(r)} | {r['calls']} "
            f"| {fmt_ms(r['in_p50'])} / {fmt_ms(r['in_p99'])} / {fmt_ms(r['in_max'])} "
            f"| {fmt_ms(r['out_p50'])} / {fmt_ms(r['out_p99'])} / {fmt_ms(r['out_max'])} "
            f"| {r['cpu_per_call_minute']:.2f} "
            f"| {100 * r['target_cpu'] / r['seconds']:.0f} | {r['rss_mb']:.0f} "
            f"| {'≤ ' + format(lag, 'g') if lag is not None else 'n/a'} "
            f"| {100 * r['load_cpu'] / r['seconds']:.0f} "
            f"| {100 * share_in:.0f} % / {100 * share_out:.0f} % "
            f"| {r['in_n'] + r['lost_in']} / {r['out_n'] + r['lost_out']} |"
        )
    return "\n".join(rows)


def per_call(results: list[dict[str, Any]]) -> str:
    """CPU against the echo floor, and RSS per added call, for the bot (recorded) rows."""
    bot = {r["calls"]: r for r in results if name_of(r) == "bot"}
    relay = {r["calls"]: r for r in results if r["target"] == "relay"}
    lines = []
    for calls in sorted(set(bot) & set(relay)):
        b, e = bot[calls]["cpu_per_call_minute"], relay[calls]["cpu_per_call_minute"]
        lines.append(f"{calls}: {b:.2f} vs {e:.2f} ({b / e:.1f}x)")
    text = "- CPU-s per call-minute, bot vs echo floor: " + "; ".join(lines) + "."
    if 1 in bot:
        grow = [
            f"{(bot[n]['rss_mb'] - bot[1]['rss_mb']) / (n - 1):.2f} MB per added call (1 → {n})"
            for n in sorted(bot) if n > 1
        ]  # fmt: skip
        text += f"\n- RSS: {bot[1]['rss_mb']:.0f} MB with one call; " + ", ".join(grow) + "."
    return text


def _describe_log(line: str) -> str:
    """A log line, short: its event and the start of its error, if it is JSON."""
    try:
        entry = json.loads(line)
    except ValueError:
        return f"`{line[:120]}`"
    error = str(entry.get("error") or entry.get("reason") or "").split("\n", 1)[0][:120]
    return f"`{entry.get('level')} {entry.get('event')}` {error}".rstrip()


def notes(results: list[dict[str, Any]]) -> str:
    seen = {r["calls"]: r["seconds"] for r in results}
    windows = ", ".join(f"{calls} call(s): {secs:.0f} s" for calls, secs in seen.items())
    lines = [
        f"- How: `bench/bridge_load.py` runs in its own process with both fakes on one "
        f"event-loop clock: FakeTwilioCall streams a 20 ms μ-law frame every 20 ms, "
        f"FakeVoiceLive speaks without pause (back-to-back 5 s responses in {DELTA_MS} ms "
        f"PCM16 24 kHz deltas at real time, speed=1.0, so pacing never holds audio back). The "
        f"bot (`python -m bot serve`, one uvicorn process) runs in another. Calls are opened at "
        f"{RAMP_PER_S:g}/s and measured over a window ({windows}) starting {SETTLE_S:g} s "
        f"after the last call is up.",
        "- Inbound = caller media frame sent → its append received by the fake Voice Live "
        "(k-th frame ↔ k-th append); outbound = audio delta sent → first Twilio media message "
        "carrying its bytes (by cumulative μ-law bytes). Frames still undelivered 1 s after "
        "the window count as infinitely late (>1000). CPU = utime+stime from /proc over the "
        "window; per call-minute = CPU-s / (calls x window minutes).",
        "- Nothing is subtracted: figures include two loopback WebSocket hops and the load "
        "generator's own scheduling. The echo-relay rows (a minimal websockets relay in its own "
        "process: JSON in → JSON out, no transcoding, pacing or marks) show that floor; the "
        "same relay on the bot's server stack (uvicorn with websockets-sansio and uvloop, a "
        "Starlette WebSocket route: `bench/relay_asgi.py`) shows what the stack adds to it.",
    ]
    for r in results:
        if r["target"] == "bot" and r["max_buffered_ms"] >= PACED_MS:
            lines.append(
                f"- Paced: at {r['calls']} call(s) the caller-side buffer reached "
                f"{r['max_buffered_ms']:.0f} ms, the bot's PLAYOUT_AHEAD_MS cap, so pacing held "
                f"audio back after all: the bot fell behind real time at some point (e.g. in the "
                f"ramp), and since pacing releases audio only as fast as it plays, a model that "
                f"sends in real time never lets that backlog drain. Outbound figures there are "
                f"playout delay the caller hears, not relay cost."
            )
        share_in, share_out = _shares(r)
        if min(share_in, share_out) >= 0.95:
            continue
        nominal_frames = r["calls"] * r["seconds"] / 0.02
        made_in = r["in_sent_window"] / nominal_frames
        made_out = r["out_sent_window"] * DELTA_MS / 20 / nominal_frames
        relayed_min = r["in_relayed_window"] * 0.02 / 60
        per_relayed = r["target_cpu"] / relayed_min if relayed_min else float("nan")
        lines.append(
            f"- Saturated: {name_of(r)} x {r['calls']}. The load generator itself produced only "
            f"{100 * made_in:.0f} % of the caller frames and {100 * made_out:.0f} % of the model "
            f"deltas due in the window ({100 * r['load_cpu'] / r['seconds']:.0f} % of a core, "
            f"event-loop lag p99 {fmt_ms(r['lag_p99'])} ms), and the process under test relayed "
            f"{100 * share_in:.0f} % / {100 * share_out:.0f} % of the due audio in real time "
            f"({100 * r['target_cpu'] / r['seconds']:.0f} % of a core; "
            f"{per_relayed:.2f} CPU-s per minute of caller audio it did relay). The machine was "
            f"{r['machine_busy']:.2f} of {os.cpu_count()} cores busy (steal "
            f"{r['machine_steal']:.2f}, other tenants included). "
            + (
                "The process under test had a core of its own (pinned): at this load that core "
                "is full, and the latencies are its own queueing."
                if r.get("pinned")
                else "At this load the latencies are queueing and the generator's share cannot "
                f"be separated on {os.cpu_count()} shared cores: pin them (BENCH_PIN) or run the "
                "generator on another host."
            )
        )
    trouble = [
        r for r in results
        if r["protocol_errors"] or r["internal_errors"] or r["closed"] or r["negative"]
        or r["log_lines"]
    ]  # fmt: skip
    for r in trouble:
        first = _describe_log(r["log_sample"][0]) if r["log_sample"] else ""
        lines.append(
            f"- {name_of(r)} x {r['calls']}: protocol errors {r['protocol_errors']}, fake crashes "
            f"{r['internal_errors']}, calls closed {r['closed']}, {r['log_lines']} warning/error "
            f"log lines in the window (first: {first})."
        )
    return "\n".join(lines)
