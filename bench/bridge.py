"""Benchmark of the call bridge: added latency each way and CPU per call-minute, 1-200 calls."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"  # as in bench.bridge_load


@dataclass(frozen=True)
class Run:
    """One measured configuration."""

    target: str  # "bot" or "relay" (the loopback baseline)
    calls: int
    window_s: float


RUNS = (
    Run("bot", 1, 8.0),
    Run("bot", 50, 12.0),
    Run("bot", 200, 15.0),
    Run("relay", 1, 8.0),
    Run("relay", 50, 12.0),
    Run("relay", 200, 15.0),
)
RAMP_PER_S = 20.0
SETTLE_S = 3.0
DELTA_MS = 100
PACED_MS = 450  # caller-side buffer near the bot's default PLAYOUT_AHEAD_MS (500): paced


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_ticks() -> tuple[int, int, int]:
    """(busy, idle, steal) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]) - idle - steal, idle, steal


def _line(stream: IO[str], deadline: float, proc: subprocess.Popen[str]) -> str:
    """The next stdout line of the load generator (it prints few: vl, window-*, result)."""
    while True:
        line = stream.readline()
        if line:
            return line.strip()
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"load generator ended early (exit {proc.returncode})")


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(run: Run) -> dict[str, Any]:
    """Start the load generator (with the fake Voice Live), then the bot or relay; measure."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as tmp:
        load_cmd = [
            PY, "-m", "bench.bridge_load", "load", "--port", str(port), "--mode", run.target,
            "--calls", str(run.calls), "--ramp", str(RAMP_PER_S), "--settle", str(SETTLE_S),
            "--window", str(run.window_s), "--delta-ms", str(DELTA_MS),
        ]  # fmt: skip
        errors, load_errors = Path(tmp, "target.log"), Path(tmp, "load.log")
        with load_errors.open("wb") as err:
            load = subprocess.Popen(
                load_cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True
            )
        target: subprocess.Popen[bytes] | None = None
        try:
            assert load.stdout is not None
            deadline = time.monotonic() + 60 + run.calls / RAMP_PER_S * 3 + run.window_s
            first = _line(load.stdout, deadline, load)
            vl_port = int(first.split()[1])
            if run.target == "bot":
                env = {
                    **os.environ,
                    "PUBLIC_URL": f"http://127.0.0.1:{port}",
                    "PORT": str(port),
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                    "TWILIO_PHONE_NUMBER": "+15005550006",
                    "VOICE_LIVE_ENDPOINT": f"http://127.0.0.1:{vl_port}",
                    "VOICE_LIVE_API_KEY": "test-key",
                    "LOG_LEVEL": "warning",
                    "LOG_FORMAT": "json",
                    "DATA_DIR": tmp,
                    # The benchmark measures where one process saturates: no capacity limit.
                    "MAX_CONCURRENT_CALLS": "10000",
                }
                cmd = [PY, "-m", "bot", "serve", "--port", str(port)]
                cwd = tmp  # no stray .env
            else:
                env = dict(os.environ)
                cmd = [PY, "-m", "bench.bridge_load", "relay", "--port", str(port)]
                cmd += ["--vl-port", str(vl_port)]
                cwd = str(ROOT)
            with errors.open("wb") as log:
                target = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=log)
            while (line := _line(load.stdout, deadline, load)) != "window-start":
                pass
            t0, bot0, load0 = time.monotonic(), cpu_seconds(target.pid), cpu_seconds(load.pid)
            m0 = machine_ticks()
            while (line := _line(load.stdout, deadline, load)) != "window-end":
                pass
            t1, bot1, load1 = time.monotonic(), cpu_seconds(target.pid), cpu_seconds(load.pid)
            m1 = machine_ticks()
            logged = errors.stat().st_size  # what the target logged up to the window's end
            while not (line := _line(load.stdout, deadline, load)).startswith("result "):
                pass
            result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
            load.wait(10)
        except Exception:
            _stop(load)
            stderr = load_errors.read_text(errors="replace")
            _stop(target)
            log_tail = errors.read_text(errors="replace")[-2000:] if errors.exists() else ""
            raise RuntimeError(
                f"{run}: load generator: {stderr[-2000:]}\ntarget: {log_tail}"
            ) from None
        finally:
            _stop(load)
            _stop(target)
        log_lines = errors.read_bytes()[:logged].decode(errors="replace").splitlines()
    seconds = t1 - t0
    result.update(
        target=run.target,
        seconds=seconds,
        target_cpu=bot1 - bot0,
        load_cpu=load1 - load0,
        cpu_per_call_minute=(bot1 - bot0) / (result["calls"] * seconds / 60),
        machine_busy=(m1[0] - m0[0]) / TICK / seconds,  # cores' worth, all processes
        machine_steal=(m1[2] - m0[2]) / TICK / seconds,
        log_lines=len(log_lines),
        log_sample=log_lines[:3],
    )
    return result


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return ">1000" if value == float("inf") else f"{value:.1f}"


def _shares(r: dict[str, Any]) -> tuple[float, float]:
    """Fractions of the offered caller audio and model audio relayed within the window."""
    offered_ms = r["calls"] * r["seconds"] * 1000
    return r["in_relayed_window"] * 20 / offered_ms, r["out_relayed_ms"] / offered_ms


def _name(r: dict[str, Any]) -> str:
    return "bot" if r["target"] == "bot" else "echo relay (baseline)"


def render(results: list[dict[str, Any]]) -> str:
    rows = [
        "| process under test | calls | inbound p50 / p99 ms | outbound p50 / p99 ms "
        "| CPU-s per call-minute | CPU % of one core | load-generator CPU % of one core "
        "| audio relayed in real time (in / out) | frames measured (in / out) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        share_in, share_out = _shares(r)
        rows.append(
            f"| {_name(r)} | {r['calls']} | {_ms(r['in_p50'])} / {_ms(r['in_p99'])} "
            f"| {_ms(r['out_p50'])} / {_ms(r['out_p99'])} | {r['cpu_per_call_minute']:.2f} "
            f"| {100 * r['target_cpu'] / r['seconds']:.0f} "
            f"| {100 * r['load_cpu'] / r['seconds']:.0f} "
            f"| {100 * share_in:.0f} % / {100 * share_out:.0f} % "
            f"| {r['in_n'] + r['lost_in']} / {r['out_n'] + r['lost_out']} |"
        )
    return "\n".join(rows)


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
        "process: JSON in → JSON out, no transcoding, pacing or marks) show that floor.",
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
            f"- Saturated: {_name(r)} x {r['calls']}. The load generator itself produced only "
            f"{100 * made_in:.0f} % of the caller frames and {100 * made_out:.0f} % of the model "
            f"deltas due in the window ({100 * r['load_cpu'] / r['seconds']:.0f} % of a core, "
            f"event-loop lag p99 {_ms(r['lag_p99'])} ms), and the process under test relayed "
            f"{100 * share_in:.0f} % / {100 * share_out:.0f} % of the due audio in real time "
            f"({100 * r['target_cpu'] / r['seconds']:.0f} % of a core; "
            f"{per_relayed:.2f} CPU-s per minute of caller audio it did relay). The machine was "
            f"{r['machine_busy']:.2f} of {os.cpu_count()} cores busy (steal "
            f"{r['machine_steal']:.2f}, other tenants included). At this load the latencies are "
            f"queueing and the generator's share cannot be separated; splitting the generator "
            f"across processes cannot help on {os.cpu_count()} cores: measuring this needs a "
            f"bigger machine or the generator on another host."
        )
    trouble = [
        r for r in results
        if r["protocol_errors"] or r["internal_errors"] or r["closed"] or r["negative"]
        or r["log_lines"]
    ]  # fmt: skip
    for r in trouble:
        first = _describe_log(r["log_sample"][0]) if r["log_sample"] else ""
        lines.append(
            f"- {_name(r)} x {r['calls']}: protocol errors {r['protocol_errors']}, fake crashes "
            f"{r['internal_errors']}, calls closed {r['closed']}, {r['log_lines']} warning/error "
            f"log lines in the window (first: {first})."
        )
    return "\n".join(lines)


def run() -> str:
    """Measure every configuration; the Markdown section for docs/benchmarks.md."""
    results = []
    for cfg in RUNS:
        print(f"bench.bridge: {cfg.target} x {cfg.calls} calls", file=sys.stderr, flush=True)
        results.append(measure(cfg))
        print(f"bench.bridge: {json.dumps(results[-1])}", file=sys.stderr, flush=True)
    return (
        "## Call bridge\n\n"
        "Latency the bot adds to each 20 ms frame in each direction, and its CPU cost, with "
        "the fakes in a separate process. Aim: p99 < 5 ms at 200 calls, < 0.3 CPU-s per "
        "call-minute.\n\n" + render(results) + "\n\n" + notes(results) + "\n"
    )


if __name__ == "__main__":
    print(run())
