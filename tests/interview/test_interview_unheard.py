"""A call that ended with the candidate unheard (no_response, one_way_audio) retries its
interview, whichever of our end and Twilio's `completed` callback comes first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.endreasons import FAILED, UNHEARD, EndReason
from bot.interview import lifecycle as lc
from bot.interview.outcomes import OURS, interview_step
from tests.interview.test_interview_lifecycle import LATER, POLICY, SID, T0, att, iv, stuck


@pytest.mark.parametrize("reason", ["no_response", "one_way_audio"])
def test_an_unheard_dialed_call_is_retried(reason: str) -> None:
    answered = att(call_sid=SID, outcome="in-progress", answered_at=T0 - timedelta(seconds=70))
    got = lc.unheard(iv("in_progress"), answered, reason, inbound=False, policy=POLICY, now=T0)
    assert got is not None and got.outcome == reason
    assert got.interview == lc.Transition("retrying", LATER)
    assert set(got.attempt) == {"outcome", "error_message"}, "Twilio reports a dialed call's end"
    assert got.attempt["error_message"] and "our side" not in got.attempt["error_message"]


def test_twilio_completed_first_is_turned_back_to_retrying() -> None:
    done = att(call_sid=SID, outcome="completed", call_status="completed", ended_at=T0)
    got = lc.unheard(iv("completed"), done, "no_response", inbound=False, policy=POLICY, now=T0)
    assert got is not None and got.interview == lc.Transition("retrying", LATER)
    last = lc.unheard(iv("completed", tries=3), done, "no_response", inbound=False,
                      policy=POLICY, now=T0)  # fmt: skip
    assert last is not None and last.interview == lc.Transition("failed"), "attempts used up"


def test_an_unheard_call_in_is_ended_and_retried() -> None:
    answered = att(call_sid=SID, outcome="in-progress", answered_at=T0 - timedelta(seconds=70))
    got = lc.unheard(iv("in_progress"), answered, "one_way_audio", inbound=True,
                     policy=POLICY, now=T0)  # fmt: skip
    assert got is not None and got.interview == lc.Transition("retrying", LATER)
    assert got.attempt["call_status"] == "completed" and got.attempt["ended_at"] == T0
    assert got.attempt["duration_s"] == 70


def test_once_only_and_only_the_latest_attempt() -> None:
    known = att(call_sid=SID, outcome="no_response")
    assert lc.unheard(iv("retrying"), known, "no_response", inbound=False,
                      policy=POLICY, now=T0) is None  # fmt: skip
    older = lc.unheard(iv("retrying", total=2), att(call_sid=SID), "no_response", inbound=False,
                       policy=POLICY, now=T0)  # fmt: skip
    assert older is not None and older.interview is None
    assert lc.unheard(iv("in_progress"), att(), "time_limit", inbound=False,
                      policy=POLICY, now=T0) is None  # fmt: skip


def test_the_outcomes_are_ours_and_retried_and_not_failures() -> None:
    assert {EndReason.NO_RESPONSE, EndReason.ONE_WAY_AUDIO} == UNHEARD
    assert not UNHEARD & FAILED, "the call record says completed, the caller hears no apology"
    for reason in UNHEARD:
        assert reason in OURS and interview_step(reason) == "retry"


def test_the_sweeper_retries_an_unheard_call_whose_news_was_lost() -> None:
    got = lc.verdict(stuck(end_reason="no_response"), T0 - timedelta(minutes=5), T0)
    assert got is not None and got[0] == "no_response"
    assert lc.verdict(stuck(), T0 - timedelta(minutes=5), T0) == (
        "completed",
        "the call completed; Twilio's final status callback never came",
    )
