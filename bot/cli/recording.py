"""`bot calls recording CALLSID -o FILE`: download a call's recording (FLAC) from its store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import ConfigError, load_settings
from bot.observability.logs import configure
from bot.recording.build import build_store
from bot.recording.store import RecordingStore, checked_sid


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `recording` subcommand of `bot calls`."""
    parser = sub.add_parser("recording", help="download a call's recording (stereo FLAC)")
    parser.add_argument("call_sid", metavar="CALLSID")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="where (default CALLSID.flac; '-': stdout)"
    )


async def _download(store: RecordingStore, call_sid: str, output: str) -> int:
    info = await store.stat(call_sid)
    if info is None:
        print(f"bot calls recording: no recording for call {call_sid}", file=sys.stderr)
        return 1
    if not info.complete:
        print(f"bot calls recording: call {call_sid} is still being recorded", file=sys.stderr)
        return 1
    part = Path(f"{output}.part")  # renamed once complete: no half file under FILE
    out = sys.stdout.buffer if output == "-" else await asyncio.to_thread(part.open, "wb")
    try:
        if info.bytes:
            async for chunk in store.read(call_sid, 0, info.bytes - 1):
                await asyncio.to_thread(out.write, chunk)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if output != "-":
        await asyncio.to_thread(part.replace, output)
        seconds = "-" if info.duration_s is None else f"{info.duration_s:.1f} s"
        print(f"{output}: {info.bytes} bytes, {seconds}", file=sys.stderr)
    return 0


def main(args: argparse.Namespace) -> int:
    """Run `bot calls recording` against RECORDINGS_DIR or RECORDINGS_URL."""
    try:
        settings = load_settings()
        call_sid = checked_sid(args.call_sid)
        store = build_store(settings)
    except (ConfigError, ValueError) as exc:
        print(f"bot: configuration error: {exc}", file=sys.stderr)
        return 2
    configure("console", "warning", settings.secrets)
    return asyncio.run(_download(store, call_sid, args.output or f"{call_sid}.flac"))
