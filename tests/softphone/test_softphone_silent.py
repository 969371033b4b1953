"""The softphone's `--silent` caller sends only silence; `--press DIGIT@SECONDS` sends DTMF."""

from __future__ import annotations

import argparse
import asyncio
import base64

import numpy as np
import pytest

from bot import softphone
from bot.localengine import audio
from bot.softphone.cli import press_arg
from tests.softphone.test_softphone import fake_bot, options


async def test_a_silent_caller_presses_keys_on_time() -> None:
    async with fake_bot() as bot:  # it plays a greeting, then waits for the caller's answer
        presses = [("#", 0.6), ("5", 0.3)]
        call = options(bot, silent=True, say=["I would speak."], press=presses, timeout=2.5)
        report = await softphone.run_call(call)
        for _ in range(100):
            if bot.received and bot.received[-1]["event"] == "stop":
                break
            await asyncio.sleep(0.01)
    assert report.status == "timeout" and report.bot_segments, "it heard the greeting"
    assert not report.caller_segments
    events = bot.received[2:]
    dtmf = [(i, e) for i, e in enumerate(events) if e["event"] == "dtmf"]
    assert [e["dtmf"] for _, e in dtmf] == [
        {"track": "inbound_track", "digit": "5"},
        {"track": "inbound_track", "digit": "#"},
    ]
    assert all(e["streamSid"] == bot.sid for _, e in dtmf)
    seqs = [int(e["sequenceNumber"]) for e in bot.received[1:]]
    assert seqs == list(range(1, len(seqs) + 1)), "one counter for media and dtmf"
    # each key goes with the frame at its time: 300 ms and 600 ms into the stream
    before = [int(events[i - 1]["media"]["timestamp"]) for i, _ in dtmf]
    assert before == [300, 600]
    media = [e for e in events if e["event"] == "media"]
    payloads = [base64.b64decode(e["media"]["payload"]) for e in media]
    pcm = np.concatenate([audio.ulaw_decode(p) for p in payloads])
    assert len(media) >= 100 and int(np.abs(pcm.astype(np.int32)).max()) == 0, "only silence"


def test_press_arguments() -> None:
    assert press_arg("5@12.5") == ("5", 12.5)
    assert press_arg("#@0") == ("#", 0.0)
    for bad in ("5", "55@1", "a@1", "5@soon", "5@-1", "@3"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"5@12\.5|SECONDS"):
            press_arg(bad)


def test_the_cli_takes_silent_and_repeated_presses(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    softphone.add_arguments(parser)
    args = parser.parse_args(["--silent", "--press", "5@20", "--press", "*@3"])
    assert args.silent and args.press == [("5", 20.0), ("*", 3.0)]
    with pytest.raises(SystemExit):
        parser.parse_args(["--silent", "--say", "Hello."])  # one source of caller audio
    with pytest.raises(SystemExit):
        parser.parse_args(["--press", "x@1"])
    assert "expected DIGIT@SECONDS" in capsys.readouterr().err
    args = parser.parse_args(["--silent", "--barge-in-after", "2"])
    assert softphone.main(args) == 2
    assert "--silent never speaks" in capsys.readouterr().err
