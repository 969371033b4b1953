"""`bot softphone`: its options, and one call run from them."""

from __future__ import annotations

import argparse
import asyncio
import sys
import wave
from pathlib import Path


def burst(text: str) -> tuple[int, float]:
    """MS@SECONDS (e.g. 150@6.5): a sound MS milliseconds long, SECONDS into the stream."""
    try:
        ms, at = text.split("@")
        length, start = int(ms), float(at)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MS@SECONDS, like 150@6.5") from None
    if not 20 <= length <= 5000 or start < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: MS must be 20-5000, SECONDS not negative")
    return length, start


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bot softphone` options."""
    parser.add_argument("--url", help="the bot's base URL (default: PUBLIC_URL)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wav", type=Path, help="caller audio, streamed from the start")
    source.add_argument(
        "--say", action="append", default=[], metavar="TEXT",
        help="a caller answer, spoken after the bot's turn (repeat: one per turn)",
    )  # fmt: skip
    source.add_argument(
        "--mic", action="store_true",
        help="speak yourself, from the default microphone (needs: pip install sounddevice)",
    )  # fmt: skip
    source.add_argument(
        "--silent", action="store_true",
        help="never speak: send only silence (the bot's silence handling ends the call)",
    )  # fmt: skip
    parser.add_argument(
        "--press", action="append", default=[], type=press_arg, metavar="DIGIT@SECONDS",
        help="press a key (0-9, *, #) this many seconds after the call starts (repeatable)",
    )  # fmt: skip
    parser.add_argument("--record", type=Path, help="stereo WAV: caller left, bot right")
    parser.add_argument("--barge-in-after", type=float, metavar="SECONDS",
                        help="interrupt the bot once it has spoken this long")  # fmt: skip
    parser.add_argument("--cough", action="append", type=burst, default=[], metavar="MS@SECONDS",
                        help="a cough (a noise burst) MS long at SECONDS (repeatable)")  # fmt: skip
    parser.add_argument("--hum", action="append", type=burst, default=[], metavar="MS@SECONDS",
                        help='a closed-mouth "mm-hmm" MS long at SECONDS (repeatable)')  # fmt: skip
    parser.add_argument("--speaker", action="store_true", help="play the bot on a sound device")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="hang up after this long (default 300)")  # fmt: skip


def press_arg(text: str) -> tuple[str, float]:
    """`--press 5@12.5` -> ("5", 12.5): a DTMF digit and when, in seconds from the call's start."""
    digit, at, seconds = text.partition("@")
    if not at or len(digit) != 1 or digit not in "0123456789*#":
        raise argparse.ArgumentTypeError(f"{text!r}: expected DIGIT@SECONDS, e.g. 5@12.5")
    try:
        when = float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: SECONDS must be a number") from None
    if not 0 <= when < 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: SECONDS must be 0 or more")
    return digit, when


def main(args: argparse.Namespace) -> int:
    """Run `bot softphone`; the exit status says whether the call completed normally."""
    from bot.config import load_settings
    from bot.softphone.call import Options, run_call  # the call's modules: not for `bot serve`
    from bot.softphone.caller import MicrophoneUnavailable

    if getattr(args, "silent", False) and args.barge_in_after is not None:
        print("softphone: --silent never speaks, so it cannot --barge-in-after", file=sys.stderr)
        return 2
    settings = load_settings()
    options = Options(
        url=args.url or settings.public_url,
        token=settings.twilio_auth_token,
        wav=args.wav,
        say=list(args.say or []),
        record=args.record,
        barge_in_after=args.barge_in_after,
        speaker=args.speaker,
        mic=args.mic,
        timeout=args.timeout,
        silent=bool(getattr(args, "silent", False)),
        press=sorted(getattr(args, "press", None) or [], key=lambda p: p[1]),
        account_sid=settings.twilio_account_sid or Options.account_sid,
        to_number=settings.twilio_phone_number or Options.to_number,
        bursts=[("cough", ms, at) for ms, at in args.cough]
        + [("mm-hmm", ms, at) for ms, at in args.hum],
    )
    try:
        report = asyncio.run(run_call(options))
    except MicrophoneUnavailable as exc:
        print(f"softphone: no microphone ({exc}); use --say or --wav instead", file=sys.stderr)
        return 1
    except (OSError, EOFError, wave.Error) as exc:  # an unreadable --wav or --record path
        print(f"softphone: {exc}", file=sys.stderr)
        return 1
    print(report.summary(), flush=True)
    return report.exit_code
