"""Tools: record_assessment is stored and answered after its response; end_interview plays
out then hangs up; bad arguments and unnamed calls are answered, never guessed."""

from __future__ import annotations

import json

from bot.call.limits import GOODBYE_GRACE_S
from bot.call.responses import Ending, Response
from bot.voicelive import events as vl
from tests.call.harness import Harness

GOOD = json.dumps({"question": 1, "score": 3, "evidence": "I led  the migration"})


def answering(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.created("r2")


def test_record_assessment_is_stored_and_answered_after_its_response(h: Harness) -> None:
    answering(h)
    h.tool("r2", "c1", "record_assessment", GOOD)
    assert h.outputs() == [{"ok": True, "recorded": {"question": 1, "score": 3}}]
    (stored,) = h.record.assessments
    assert stored["number"] == 1 and stored["score"] == 3
    assert stored["evidence"] == "I led the migration"
    assert "Assessment recorded: question 1, score 3." in [t for _, t in h.core.history.replay()]
    assert h.creates() == [h.core.greeting], "no response.create while r2 is active"
    h.done("r2")
    assert h.creates() == [h.core.greeting, None]
    assert h.boundaries == 1, "a tool's response is not a turn boundary"


def test_a_call_id_is_carried_out_once(h: Harness) -> None:
    answering(h)
    h.tool("r2", "c1", "record_assessment", GOOD)
    h.model(vl.FunctionCall("r2", "c1", "record_assessment", GOOD))
    h.done("r2", calls=(vl.FunctionCall("r2", "c1", "record_assessment", GOOD),))
    assert len(h.outputs()) == 1 and len(h.record.assessments) == 1


def test_bad_arguments_are_answered_with_the_problem(h: Harness) -> None:
    answering(h)
    h.tool("r2", "c1", "record_assessment", json.dumps({"question": 9, "score": 3,
                                                          "evidence": "x"}))  # fmt: skip
    (output,) = h.outputs()
    assert output["ok"] is False and "question 9 does not exist" in output["error"]
    assert h.record.assessments == []
    (bad,) = h.logged("tool.bad_call")
    assert bad["tool"] == "record_assessment"
    h.done("r2")
    assert h.creates()[-1] is None, "the model gets to say it again"


def test_an_unnamed_call_waits_for_response_done_to_name_it(h: Harness) -> None:
    answering(h)
    h.model(vl.FunctionCall("r2", "c1", "", GOOD))  # the reference's .done has no name
    assert h.outputs() == []
    h.done("r2", calls=(vl.FunctionCall("r2", "c1", "record_assessment", GOOD),))
    assert h.outputs() == [{"ok": True, "recorded": {"question": 1, "score": 3}}]
    assert h.creates()[-1] is None


def test_a_call_never_named_is_refused_not_guessed(h: Harness) -> None:
    answering(h)
    h.model(vl.FunctionCall("r2", "c1", "", GOOD))
    h.done("r2")
    (output,) = h.outputs()
    assert output == {"ok": False, "error": "unknown tool '?'"}
    assert h.record.assessments == []


def test_a_call_in_response_done_only_is_carried_out_if_completed(h: Harness) -> None:
    answering(h)
    h.done("r2", "cancelled", calls=(vl.FunctionCall("r2", "c1", "record_assessment", GOOD),))
    assert h.outputs() == []
    h.created("r3")
    h.done("r3", calls=(vl.FunctionCall("r3", "c2", "record_assessment", GOOD),))
    assert len(h.outputs()) == 1


def test_a_tool_call_of_a_cancelled_response_is_dropped(h: Harness) -> None:
    answering(h)
    h.audio("r2", "a2", 500)
    h.speech()  # cancels r2
    h.tool("r2", "c1", "record_assessment", GOOD)
    assert h.outputs() == [] and h.logged("voicelive.tool_call_dropped")


def test_end_interview_plays_out_then_hangs_up(h: Harness) -> None:
    answering(h)
    h.audio("r2", "a2", 1000)
    h.tool("r2", "c1", "end_interview", json.dumps({"reason": "done"}))
    assert h.outputs() == [{"ok": True}]
    (asked,) = h.logged("call.end_requested")
    assert asked["reason"] == "done" and asked["pending_playout_s"] == 1.0
    assert h.core.turns.ending is Ending.PLAYING_OUT
    h.done("r2")
    assert h.creates() == [h.core.greeting], "nothing more is asked for"
    h.play_all()
    assert h.hang_up == "interview_finished" and h.logged("call.goodbye_played")
    assert h.elapsed > 0.99, "not before the goodbye played (1 s of it)"


def test_end_interview_hangs_up_when_marks_never_come(h: Harness) -> None:
    answering(h)
    h.audio("r2", "a2", 1000)
    h.tool("r2", "c1", "end_interview", "{}")
    h.done("r2")
    h.run_until(1.0 + GOODBYE_GRACE_S - 0.01)
    assert h.hang_up is None
    h.run_until(1.0 + GOODBYE_GRACE_S + 0.01)
    assert h.hang_up == "interview_finished" and h.logged("call.goodbye_not_confirmed")


def test_speech_over_the_goodbye_takes_the_call_back(h: Harness) -> None:
    answering(h)
    h.audio("r2", "a2", 1000)
    h.tool("r2", "c1", "end_interview", "{}")
    h.at(0.1)
    h.speech()
    assert h.core.turns.ending is Ending.TALKING and h.clears == 1
    h.run_until(30)
    assert h.hang_up is None


def test_tools_after_end_interview_get_an_error_output(h: Harness) -> None:
    answering(h)
    h.audio("r2", "a2", 1000)
    h.tool("r2", "c1", "end_interview", "{}")
    h.tool("r2", "c2", "record_assessment", GOOD)
    assert h.outputs()[-1] == {"ok": False, "error": "the interview is ending"}
    assert h.record.assessments == []
    h.done("r2")
    assert h.core.turns.response is Response.IDLE and h.creates() == [h.core.greeting]


def test_a_drop_while_the_models_goodbye_plays_lets_it_play_out_then_hangs_up(h: Harness) -> None:
    """end_interview, then the session drops mid-goodbye: what came of the goodbye plays out
    (no cut, no 'the line was interrupted' answer from the new session), then hang-up."""
    answering(h)
    h.audio("r2", "a2", 1000)
    h.tool("r2", "c1", "end_interview", "{}")
    replay = h.core.fresh_session(False)
    assert not any('"response.create"' in e for e in replay), "nothing new is asked for"
    clears = h.clears
    h.resumed(False, replay)
    assert h.clears == clears, "the goodbye is not cut"
    assert h.hang_up is None, "not before it played"
    assert h.creates() == [h.core.greeting]
    h.play_all()
    assert h.hang_up == "interview_finished" and h.elapsed > 0.99
