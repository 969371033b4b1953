"""Coughs and real interruptions: `bot serve` on its local engine, called by the softphone.

For each speech_duration_ms: does a cough (a noise burst) or a closed-mouth "mm-hmm" while the
interviewer speaks cut it, and how long after a real interruption begins (the caller's first
loud frame, at the caller) does the bot's audio stop there (Twilio's `clear`)? Run on its own:
`python -m bench bargein` (writes its section of docs/benchmarks.md) or `python -m bench.bargein`
(prints it).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

from bot.softphone import CallReport, Options, run_call
from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.server import bot_process, free_port

DURATIONS_MS = (0, 250, 500)
RUNS = 7  # real interruptions per setting
BURSTS = (("cough", 150), ("cough", 300), ("mm-hmm", 400))
BURST_AT_S = 1.5  # into the stream: the greeting has been playing for about 1.4 s
INTERRUPTION = "Sorry, can I ask something quickly?"  # about 1.7 s of speech
GREETING = (
    "Hello, thanks for calling. This is a short practice interview with two questions. Take "
    "your time with each answer, there is no rush at all. At any time, press star to hear the "
    "question again, or press pound to skip to the next one. Are you ready?"
)
PRACTICE = Path(__file__).parents[1] / "profiles" / "practice.toml"


def profile_text(speech_duration_ms: int) -> str:
    """The practice profile with a long greeting and this speech_duration_ms."""
    text = PRACTICE.read_text()
    text = re.sub(r'greeting = """.*?"""', f'greeting = "{GREETING}"', text, flags=re.S)
    return text.replace(
        "duration_min = 10\n", f"duration_min = 10\nspeech_duration_ms = {speech_duration_ms}\n"
    )


def _env(tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_LIVE_")}
    return {
        **env,  # no VOICE_LIVE_ENDPOINT: `bot serve` starts its local engine
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_PHONE_NUMBER": "+15005550006",
        "DATA_DIR": str(tmp),
        "DATABASE_URL": f"sqlite:///{tmp}/calls.db",
        "PROFILES_DIR": str(tmp / "profiles"),
        "LOG_LEVEL": "warning",
    }


async def _call(base: str, **options: object) -> CallReport:
    """One softphone call in its own thread and loop, as a separate caller would be."""
    opts = Options(url=base, token=AUTH_TOKEN, out=io.StringIO(), **options)  # type: ignore[arg-type]
    return await asyncio.to_thread(lambda: asyncio.run(run_call(opts)))


async def measure(duration_ms: int, runs: int) -> dict[str, object]:
    """One bot process with this speech_duration_ms: the bursts, then the interruptions."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "profiles").mkdir()
        (tmp / "profiles" / "practice.toml").write_text(profile_text(duration_ms))
        port = free_port()
        async with bot_process(_env(tmp, port), port, tmp / "bot.log"):
            base = f"http://127.0.0.1:{port}"
            cut: dict[str, bool | None] = {}
            for kind, ms in BURSTS:
                report = await _call(base, bursts=[(kind, ms, BURST_AT_S)],
                                     timeout=BURST_AT_S + ms / 1000 + 1.5)  # fmt: skip
                burst = report.bursts[0] if report.bursts else None
                ok = burst is not None and burst.over_bot
                cut[f"{ms} ms {kind}"] = (burst.cut_after_ms is not None) if ok else None
            silent: list[float] = []
            for _ in range(runs):
                report = await _call(base, say=[INTERRUPTION], barge_in_after=1.0, timeout=4.0)
                took = report.barge_ins[0].silence_after_ms if report.barge_ins else None
                if took is not None:
                    silent.append(took)
    return {"cut": cut, "silent": silent}


def _cell(value: bool | None) -> str:
    return "n/a" if value is None else ("**cut**" if value else "not cut")


def run(runs: int = RUNS) -> str:
    """The `## Coughs and interruptions` section."""
    results = {d: asyncio.run(measure(d, runs)) for d in DURATIONS_MS}
    names = list(results[DURATIONS_MS[0]]["cut"])  # type: ignore[call-overload]
    head = "| speech_duration_ms | " + " | ".join(names) + " | real interruption: onset to "
    head += "bot silent at the caller, median (min-max) ms | runs |"
    rows = [head, "|" + "---|" * (len(names) + 1) + "--:|--:|"]
    for duration, result in results.items():
        cut, silent = result["cut"], result["silent"]
        figure = "none measured"
        if silent:
            figure = f"{statistics.median(silent):.0f} ({min(silent):.0f}-{max(silent):.0f})"  # type: ignore[type-var, arg-type]
        shown = f"{duration} (the service's floor: 80)" if duration < 80 else str(duration)
        cells = " | ".join(_cell(cut[n]) for n in names)  # type: ignore[index]
        rows.append(f"| {shown} | {cells} | {figure} | {len(silent)} |")  # type: ignore[arg-type]
    return "\n".join(
        [
            "## Coughs and interruptions\n",
            "`bench/bargein.py`: `bot serve` (a separate process, on its local engine) called by "
            "the softphone on 127.0.0.1, per profile `speech_duration_ms` (remove_filler_words "
            f"on). Bursts start {BURST_AT_S:g} s into the stream, over the greeting; the real "
            f'interruption is the caller saying "{INTERRUPTION}" (eSpeak, about 1.7 s) once the '
            "bot has spoken 1 s, timed on the softphone's 20 ms clock from its first loud frame "
            "to the first tick the bot's audio is gone (Twilio's `clear`).\n",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS))
