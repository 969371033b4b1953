"""End to end over real sockets: softphone ⇄ bot ⇄ local engine. A cough or an "mm-hmm" while
the interviewer speaks leaves its sentence whole; words cut it."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from bot.softphone import Options
from tests.localengine.test_local_call import call_in_own_loop
from tests.support import make_settings, running_bot

ANSWERS = ["Yes, I am ready.", "I built a billing system.", "We talked it through calmly."]


async def test_a_cough_and_an_mm_hmm_do_not_interrupt_the_interviewer(tmp_path: Path) -> None:
    settings = make_settings(tmp=tmp_path)
    async with running_bot(settings) as base:
        options = Options(
            url=base,
            token=settings.twilio_auth_token,
            say=ANSWERS,
            bursts=[("cough", 150, 2.0), ("mm-hmm", 400, 4.0)],  # during the greeting
            timeout=60,
            out=io.StringIO(),
        )
        report = await asyncio.to_thread(call_in_own_loop, options)
    timeline = options.out.getvalue()  # type: ignore[union-attr]
    assert report.exit_code == 0, report.reason + timeline
    assert [(b.kind, b.over_bot) for b in report.bursts] == [("cough", True), ("mm-hmm", True)]
    assert [b.cut_after_ms for b in report.bursts] == [None, None], timeline
    assert report.barge_ins == [], timeline
    # The greeting played through both, in one piece; then two questions and the goodbye.
    start, end = report.bot_segments[0]
    assert start < 2000 and end > 4400, timeline
    assert len(report.bot_segments) == 4 and len(report.response_times_ms) == 3, timeline
