"""Wrap-up at the time limit: a response in flight finishes within its grace, the closing line
cannot be interrupted, the call hangs up after its last mark, and within 45 s whatever happens."""

from __future__ import annotations

from bot.call.limits import CLOSING_GRACE_S, RESPONSE_GRACE_S, WRAP_UP_TIMEOUT_S
from bot.call.responses import Ending, Response
from tests.call.harness import Harness


def test_the_time_limit_wraps_up_and_hangs_up_after_the_closing_line() -> None:
    h = Harness(duration_s=60)
    h.start()
    h.created("r1")
    h.done("r1")
    assert h.core.next_deadline() == h.t0 + 60
    h.run_until(59.9)
    assert not h.logged("call.time_limit")
    h.run_until(60.0)
    (limit,) = h.logged("call.time_limit")
    assert limit["duration_s"] == 60.0
    (wrap,) = h.logged("call.wrap_up")
    assert wrap["reason"] == "time_limit" and wrap["elapsed_s"] == 60.0
    updates = h.sent("session.update")
    assert updates and all(u["session"] == {"turn_detection": None} for u in updates)
    assert h.creates() == [h.core.greeting, h.core.closing]
    assert h.logged("call.closing_requested")
    h.created("r2")
    assert h.core.turns.closing_response == "r2"
    h.audio("r2", "a2", 1500)
    h.at(60.2)
    h.echo(1)
    h.speech()  # the caller talks over the closing line: it plays on
    assert h.clears == 0 and h.sent("response.cancel") == []
    assert h.logged("call.barge_in_ignored")[0]["during"] == "closing"
    h.done("r2")
    (queued,) = h.logged("call.closing_queued")
    assert queued["pending_playout_s"] == 1.4
    assert h.core.turns.ending is Ending.PLAYING_OUT
    h.play_all()
    assert h.hang_up == "time_limit" and h.logged("call.goodbye_played")
    assert h.elapsed > 61.4, "after its last mark"
    h.close()


def test_a_response_in_flight_finishes_within_the_grace(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.audio("r1", "a1", 2000)
    h.wrap_up("drain")
    assert h.creates() == [h.core.greeting], "the closing line waits for r1"
    assert h.sent("response.cancel") == []
    h.run_until(RESPONSE_GRACE_S - 1)
    assert h.creates() == [h.core.greeting]
    h.done("r1")
    assert h.creates() == [h.core.greeting, h.core.closing]
    assert h.sent("response.cancel") == []
    assert h.core.grace_until is None or h.core.turns.ending is Ending.CLOSING


def test_a_response_still_running_after_the_grace_is_cancelled(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.wrap_up("drain")
    h.run_until(RESPONSE_GRACE_S - 0.01)
    assert h.sent("response.cancel") == []
    h.run_until(RESPONSE_GRACE_S)
    assert len(h.sent("response.cancel")) == 1
    assert h.creates() == [h.core.greeting, h.core.closing]


def test_a_request_never_created_within_the_grace_is_given_up(h: Harness) -> None:
    h.start()  # the greeting is asked for, never created
    h.wrap_up("drain")
    h.run_until(RESPONSE_GRACE_S)
    assert h.sent("response.cancel") == []
    assert h.creates() == [h.core.greeting, h.core.closing]
    assert h.core.turns.response is Response.REQUESTED


def test_a_tool_answer_owed_at_wrap_up_gives_way_to_the_closing_line(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.tool("r1", "c1", "record_assessment", '{"question": 1, "score": 2, "evidence": "x"}')
    h.wrap_up("time_limit")
    h.done("r1")
    assert h.creates() == [h.core.greeting, h.core.closing]


def test_the_call_ends_45_s_after_wrap_up_whatever_happens(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.at(10)
    h.wrap_up("drain")
    h.created("r2")  # the closing line, which never finishes
    h.audio("r2", "a2", 500)
    h.run_until(10 + WRAP_UP_TIMEOUT_S - 0.01)
    assert h.hang_up is None
    h.run_until(10 + WRAP_UP_TIMEOUT_S)
    assert h.hang_up == "drain" and h.logged("call.goodbye_not_confirmed")


def test_the_closing_line_ends_within_its_grace_without_marks(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.wrap_up("time_limit")
    h.created("r2")
    h.audio("r2", "a2", 1000)
    h.done("r2")
    h.run_until(0.99 + CLOSING_GRACE_S)
    assert h.hang_up is None
    h.run_until(1.01 + CLOSING_GRACE_S)
    assert h.hang_up == "time_limit"


def test_a_second_wrap_up_changes_nothing(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.wrap_up("drain")
    h.at(5)
    h.wrap_up("time_limit")
    assert len(h.logged("call.wrap_up")) == 1 and h.core.turns.end_reason == "drain"
    assert h.creates().count(h.core.closing) == 1
    assert h.core.wrap_deadline == h.t0 + WRAP_UP_TIMEOUT_S


def test_wrap_up_after_end_interview_changes_nothing(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.audio("r1", "a1", 500)
    h.tool("r1", "c1", "end_interview", "{}")
    h.wrap_up("time_limit")
    assert not h.logged("call.wrap_up") and h.core.turns.end_reason is None
    h.done("r1")
    h.play_all()
    assert h.hang_up == "interview_finished"


def test_the_time_limit_during_the_models_goodbye_still_ends_the_call() -> None:
    h = Harness(duration_s=60)
    h.start()
    h.created("r1")
    h.audio("r1", "a1", 500)
    h.tool("r1", "c1", "end_interview", "{}")
    h.done("r1")
    h.run_until(200)  # no mark ever comes back
    assert h.hang_up == "interview_finished", "the goodbye's own deadline ends it first"
    h.close()


def test_a_wrap_up_with_no_session_asks_the_next_one(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.ready = False
    h.wrap_up("drain")
    assert h.creates() == [h.core.greeting], "no session to ask"
    assert h.core.turns.ending is Ending.WRAPPING_UP
    replay = h.core.fresh_session(False)
    assert '"turn_detection":null' in replay[-2] and h.core.closing in replay[-1]
    h.ready = True
    h.resumed(False, replay)
    assert h.core.turns.ending is Ending.CLOSING
    assert h.creates() == [h.core.greeting], "the replay asked for it: not asked twice"
    h.resumed(False, [])  # a later session whose replay did not ask: asked now
    assert h.creates() == [h.core.greeting, h.core.closing]


def test_time_checks_go_at_turn_boundaries_only() -> None:
    h = Harness(duration_s=300)  # the wrap-up request is due 60 s before the end
    h.start()
    h.created("r1")
    h.at(250)
    assert h.messages() == [], "never mid-sentence"
    h.done("r1")
    (check,) = h.messages()
    assert check.startswith("Time check: only") and "Wrap up now" in check
    (logged,) = h.logged("call.time_check")
    assert logged["wrap_up"] is True and logged["remaining_s"] == 50
    assert h.boundaries == 1
    h.close()


def test_a_full_outbound_queue_drops_audio_and_says_so_once_per_response(h: Harness) -> None:
    h.core.playout.max_bytes = 8 * 1000  # room for 1 s
    h.start()
    h.created("r1")
    for _ in range(5):
        h.audio("r1", "a1", 500)
    assert h.core.overflowed_deltas == 3
    (full,) = h.logged("call.outbound_queue_full")
    assert full["response_id"] == "r1" and full["item_id"] == "a1"
