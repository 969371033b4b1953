"""Soak: 20 calls at a time for minutes (turns, barge-ins); the bot's RSS slope, open files,
and whether every caller turn got a reply the caller heard."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx

from bench import soak_calls
from bench.bridge import free_port
from bench.bridge_load import AUTH_TOKEN, wait_port
from bench.machine import machine
from bench.proc import cpu_seconds, fd_kinds, open_fds, rss_mb, slope_per_minute, stop

PY = sys.executable
SOAK_S = 180.0  # `python -m bench soak --soak-s N` for longer
CALLS = 20
SAMPLE_S = 5.0
STAGGER_S = 0.3  # line i places its first call i x this after the start
SETTLE_S = 6.0  # after the last call ended: longer than uvicorn's 5 s keep-alive


def warm_up_s(seconds: float) -> float:
    """The first part of the load, left out of the slope (caches, pools, first imports)."""
    return min(60.0, seconds / 3)


def _bot_env(port: int, vl_endpoint: str, data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_PHONE_NUMBER": "+15005550006",
        "VOICE_LIVE_ENDPOINT": vl_endpoint,
        "VOICE_LIVE_API_KEY": "test-key",
        "LOG_LEVEL": "warning",
        "LOG_FORMAT": "json",
        "DATA_DIR": data_dir,
    }


async def _active_calls(client: httpx.AsyncClient) -> int:
    return int((await client.get("/healthz")).json()["active_calls"])


async def _sampler(pid: int, t0: float, samples: list[tuple[float, float, int]]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        samples.append((loop.time() - t0, rss_mb(pid), open_fds(pid)))
        await asyncio.sleep(SAMPLE_S)


async def _drive(pid: int, public: str, seconds: float, calls: int) -> dict[str, Any]:
    """Place the calls, sample the bot meanwhile, then wait for it to be idle again."""
    loop = asyncio.get_running_loop()
    tally = soak_calls.Tally()
    samples: list[tuple[float, float, int]] = []
    async with httpx.AsyncClient(base_url=public, timeout=30) as client:
        for _ in range(200):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        idle_before = (rss_mb(pid), open_fds(pid))
        fds_before = fd_kinds(pid)
        t0 = loop.time()
        cpu0 = cpu_seconds(pid)
        sampler = asyncio.create_task(_sampler(pid, t0, samples))
        stop_at = t0 + seconds

        async def staggered(i: int) -> None:
            await asyncio.sleep(i * STAGGER_S)
            await soak_calls.line(client, public, tally, stop_at)

        await asyncio.gather(*(staggered(i) for i in range(calls)))
        load_s = loop.time() - t0
        cpu = cpu_seconds(pid) - cpu0
        sampler.cancel()
        samples.append((load_s, rss_mb(pid), open_fds(pid)))
        for _ in range(150):
            if await _active_calls(client) == 0:
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(SETTLE_S)  # our webhook connections closed, the bot's timed out
    idle_after = (rss_mb(pid), open_fds(pid), fd_kinds(pid))
    async with httpx.AsyncClient(base_url=public, timeout=30) as client:
        still_active = await _active_calls(client)
    return {"tally": tally, "samples": samples, "idle_before": idle_before,
            "idle_after": idle_after, "still_active": still_active, "load_s": load_s,
            "cpu_s": cpu, "fds_before": fds_before}  # fmt: skip


async def _soak(seconds: float, calls: int, data_dir: str, log: IO[bytes]) -> dict[str, Any]:
    """The fake Voice Live here, the bot in its own process (logging to `log`), the soak."""
    fake = soak_calls.fake_voice_live()
    await fake.start()
    janitor = asyncio.create_task(soak_calls.janitor(fake))
    port = free_port()
    bot = await asyncio.create_subprocess_exec(
        PY, "-m", "bot", "serve", "--port", str(port),
        cwd=data_dir,  # no stray .env
        env=_bot_env(port, fake.endpoint, data_dir),
        stdout=log,
        stderr=log,
    )  # fmt: skip
    try:
        await wait_port(port)
        result = await _drive(bot.pid, f"http://127.0.0.1:{port}", seconds, calls)
    finally:
        await stop(bot)
        janitor.cancel()
        await fake.stop()
    result["handler_errors"] = [repr(e)[:200] for e in fake.handler_errors]
    return result


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f}"


def _mb_min(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _per_call(slope: float | None, calls: int, r: dict[str, Any]) -> str:
    """The RSS slope divided by calls placed per minute: growth per call, if it were a leak."""
    if slope is None or not calls:
        return "n/a"
    return f"{slope * 1024 / (calls / (r['load_s'] / 60)):+.0f}"


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))


def _by_minute(samples: list[tuple[float, float, int]]) -> str:
    """RSS at the sample nearest each whole minute (and at the end)."""
    marks = [m * 60.0 for m in range(int(samples[-1][0] // 60) + 1)] + [samples[-1][0]]
    picked: list[tuple[float, float, int]] = []
    for m in marks:
        nearest = min(samples, key=lambda s, m=m: abs(s[0] - m))
        if nearest not in picked:
            picked.append(nearest)
    return " → ".join(f"{rss:.1f} ({at / 60:.1f} min)" for at, rss, _ in picked)


def _event(line: str) -> str:
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:100]
    return f"{entry.get('level')} {entry.get('event')}"


def render(r: dict[str, Any], seconds: float, calls: int) -> str:
    """The Markdown section for docs/benchmarks.md."""
    t: soak_calls.Tally = r["tally"]
    samples: list[tuple[float, float, int]] = r["samples"]
    warm = warm_up_s(seconds)
    steady = [(s, rss) for s, rss, _ in samples if s >= warm]
    slope = slope_per_minute(steady)
    overall = slope_per_minute([(s, rss) for s, rss, _ in samples])
    at_warm = steady[0][1] if steady else float("nan")
    heard = t.replies_heard / t.turns if t.turns else 0.0
    p50, p95 = _pct(t.reply_s, 50), _pct(t.reply_s, 95)
    problems = [x for x in r["log_lines"] if x.strip()]
    kinds: dict[str, int] = {}
    for x in problems:
        kinds[_event(x)] = kinds.get(_event(x), 0) + 1
    logged = ", ".join(f"`{k}` x {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    rows = [
        "| figure | value |",
        "|---|--:|",
        f"| load | {calls} calls at a time for {r['load_s'] / 60:.1f} min |",
        f"| calls placed (failed) | {t.calls} ({t.calls_failed}) |",
        f"| greetings heard (first audio after the stream started, p50 / p95 ms) | "
        f"{t.greetings_heard} / {t.greetings} ({_ms(_pct(t.greeting_s, 50))} / "
        f"{_ms(_pct(t.greeting_s, 95))}) |",
        f"| caller turns: reply heard | {t.replies_heard} / {t.turns} ({100 * heard:.1f} %) |",
        f"| reply heard after the caller stopped, p50 / p95 ms | {_ms(p50)} / {_ms(p95)} |",
        f"| barge-ins: bot cleared the caller's audio | {t.barge_ins_cleared} / {t.barge_ins} |",
        f"| RSS idle before → after warm-up ({warm:.0f} s) → end of load → idle after, MB | "
        f"{r['idle_before'][0]:.1f} → {at_warm:.1f} → {samples[-1][1]:.1f} → "
        f"{r['idle_after'][0]:.1f} |",
        f"| RSS slope after warm-up (whole load), MB per minute | {_mb_min(slope)} "
        f"({_mb_min(overall)}) |",
        f"| that slope ÷ calls placed per minute, KB per call | {_per_call(slope, t.calls, r)} |",
        f"| open fds idle before / peak / idle after | {r['idle_before'][1]} / "
        f"{max(f for _, _, f in samples)} / {r['idle_after'][1]} |",
        f"| fds idle before → after, by kind | {_kinds(r['fds_before'])} → "
        f"{_kinds(r['idle_after'][2])} |",
        f"| RSS each minute of the load, MB | {_by_minute(samples)} |",
        f"| bot CPU, % of one core over the load | {100 * r['cpu_s'] / r['load_s']:.0f} |",
        f"| protocol errors seen by the callers / fake crashes | {t.protocol_errors} / "
        f"{len(r['handler_errors'])} |",
        f"| bot log lines at warning or above | {len(problems)}"
        f"{f' ({logged})' if logged else ''} |",
    ]  # fmt: skip
    notes = [
        f"- How: `bench/soak.py` starts the bot (`python -m bot serve`, one process, SQLite "
        f"under a temporary `DATA_DIR`) against the fake Voice Live in the benchmark's own "
        f"process, which also runs {calls} fake Twilio lines (`bench/soak_calls.py`). Each line "
        f"places calls back to back: webhook, signed stream, the greeting, then "
        f"{soak_calls.TURNS_PER_CALL} caller turns of {soak_calls.SPEECH_MS} ms (a tone the "
        f"fake's energy VAD hears; silence frames every 20 ms in between), every other one a "
        f"barge-in {soak_calls.BARGE_AFTER_MS} ms into the {soak_calls.REPLY_MS} ms reply "
        f"(which the fake streams in real time), then it hangs up. A reply counts as heard "
        f"when at least 200 ms of bot audio reached the caller within "
        f"{soak_calls.HEARD_TIMEOUT_S:.0f} s of the turn's end.",
        f"- RSS (VmRSS) and open fds (`/proc/<pid>/fd`) of the bot sampled every "
        f"{SAMPLE_S:.0f} s; the slope is a least-squares fit over the samples after the "
        f"warm-up. A leak of one call's state would show as a slope that keeps its sign "
        f"call after call; a small one within noise means none was seen over this run.",
    ]
    if t.failures:
        notes.append("- First failures: " + "; ".join(f"`{f}`" for f in t.failures))
    if r["handler_errors"]:
        notes.append("- Fake crashes: " + "; ".join(f"`{e}`" for e in r["handler_errors"][:3]))
    if r["still_active"]:
        notes.append(f"- {r['still_active']} call(s) still active after the load ended.")
    return (
        "## Soak\n\n"
        "Many calls for minutes: does the bot's memory or its open files grow, and does every "
        "caller turn still get a reply the caller hears? Run alone with "
        "`python -m bench soak` (`--soak-s` for a longer run).\n\n"
        + machine()
        + "\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(notes)
        + "\n"
    )


def run(seconds: float = SOAK_S, calls: int = CALLS) -> str:
    """Soak the bot for `seconds`; the Markdown section for docs/benchmarks.md."""
    print(f"bench.soak: {calls} calls for {seconds:.0f} s", file=sys.stderr, flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        log_path = Path(tmp, "bot.log")
        with log_path.open("wb") as log:
            result = asyncio.run(_soak(seconds, calls, tmp, log))
        result["log_lines"] = log_path.read_text(errors="replace").splitlines()
    tally = result["tally"]
    print(f"bench.soak: done in {time.monotonic() - started:.0f} s: {tally.turns} turns, "
          f"{tally.replies_heard} heard", file=sys.stderr, flush=True)  # fmt: skip
    return render(result, seconds, calls)


if __name__ == "__main__":
    print(run(float(sys.argv[1]) if len(sys.argv) > 1 else SOAK_S))
