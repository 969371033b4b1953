"""A new model session: when a recycle may switch, what the new session is told (history,
time, what comes next), and what changes once it took over (recycle and reconnect)."""

from __future__ import annotations

import json

from bot.call.limits import RESUME_NOTE
from bot.call.responses import Response
from bot.voicelive import events as vl
from tests.call.harness import Harness


def kinds(events: list[str]) -> list[str]:
    return [json.loads(e)["type"] for e in events]


def texts(events: list[str]) -> list[str]:
    found = []
    for e in map(json.loads, events):
        if e["type"] == "conversation.item.create":
            found.append(e["item"]["content"][0]["text"])
    return found


def at_boundary_playing(h: Harness) -> None:
    """The greeting was said (its words known) and is still playing."""
    h.start()
    h.created("r1")
    h.audio("r1", "a1", 1000)
    h.done("r1", transcripts={"a1": "Hello, are you ready?"})


def test_a_recycle_may_switch_only_at_a_boundary_while_the_caller_listens(h: Harness) -> None:
    h.start()
    assert not h.core.can_switch(), "a response is asked for"
    h.created("r1")
    h.audio("r1", "a1", 1000)
    assert not h.core.can_switch(), "a response is running"
    h.done("r1")
    assert h.core.can_switch()
    h.play_all()
    assert not h.core.can_switch(), "played out: the caller may speak any moment"


def test_no_switch_when_an_answer_is_owed_or_the_call_is_ending(h: Harness) -> None:
    at_boundary_playing(h)
    h.core.turns.respond_when_done = True
    assert not h.core.can_switch()
    h.core.turns.respond_when_done = False
    assert h.core.can_switch()
    h.wrap_up("drain")
    assert not h.core.can_switch()


def test_no_switch_while_the_callers_words_are_awaited(h: Harness) -> None:
    at_boundary_playing(h)
    h.core.history.user_started("u1")
    assert not h.core.can_switch()


def test_words_awaited_block_a_switch_for_three_seconds_of_the_calls_clock(h: Harness) -> None:
    """The core's own clock decides (no wall clock): a transcript that never comes stops
    blocking the switch 3 s after the caller began."""
    at_boundary_playing(h)
    began = h.elapsed
    h.core.history.user_started("u1")
    h.at(began + 2.9)
    h.tick()
    assert not h.core.can_switch(), "the caller's words may still come"
    h.at(began + 3.1)
    h.tick()
    assert h.core.can_switch(), "three seconds on the call's clock: they are not coming"


def test_a_planned_session_gets_the_history_and_the_time_only(h: Harness) -> None:
    at_boundary_playing(h)
    replay = h.core.fresh_session(True)
    assert texts(replay)[0] == "Hello, are you ready?"
    assert texts(replay)[-1].startswith("Time check:")
    assert "response.create" not in kinds(replay), "the caller speaks next"
    again = h.core.fresh_session(True)  # pure: asking twice gives the same (new event ids)
    assert texts(again) == texts(replay) and kinds(again) == kinds(replay)


def test_a_drop_before_any_response_greets_again(h: Harness) -> None:
    h.start()
    replay = h.core.fresh_session(False)
    create = json.loads(replay[-1])
    assert create["type"] == "response.create"
    assert create["response"]["pre_generated_assistant_message"]["content"][0]["text"] == (
        h.core.greeting
    )


def test_a_drop_mid_answer_resumes_with_the_note(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.created("r2")
    h.audio("r2", "a2", 1000)
    replay = h.core.fresh_session(False)
    assert texts(replay)[-1] == RESUME_NOTE and kinds(replay)[-1] == "response.create"


def test_a_drop_after_the_caller_spoke_answers_them(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.model(vl.SpeechStopped(2000, "u1"))
    assert RESUME_NOTE in texts(h.core.fresh_session(False))


def test_a_drop_at_a_quiet_boundary_asks_nothing(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    assert "response.create" not in kinds(h.core.fresh_session(False))


def test_a_reconnect_mid_answer_cuts_the_old_audio_and_takes_the_replays_request(
    h: Harness,
) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.created("r2")
    h.audio("r2", "a2", 1000)
    h.at(0.1)
    h.resumed(False)
    assert h.clears == 1 and h.logged("call.unfinished_answer_cut")[0]["item_id"] == "a2"
    assert h.core.utterances["a2"].cut and h.core.utterances["a2"].generated_ms == 0
    assert h.core.turns.response is Response.REQUESTED, "the replay asked for the answer"
    assert h.record.errors[-1]["code"] == "reconnected"
    (resumed,) = h.logged("call.session_resumed")
    assert resumed["planned"] is False
    h.speech()
    assert h.sent("conversation.item.truncate") == [], "its items are gone: no truncate"


def test_a_recycle_leaves_the_audio_playing_and_asks_nothing(h: Harness) -> None:
    at_boundary_playing(h)
    h.resumed(True)
    assert h.clears == 0 and h.core.playout.playing
    assert h.core.turns.response is Response.IDLE and not h.core.at_boundary
    assert h.record.errors[-1]["code"] == "session_recycled"
    assert h.record.errors[-1]["source"] == "bot"


def test_a_wrap_up_during_a_drop_has_the_new_session_say_the_closing_line(h: Harness) -> None:
    at_boundary_playing(h)
    h.wrap_up("drain")  # the closing line is asked of the old session
    replay = h.core.fresh_session(False)
    assert kinds(replay)[-2:] == ["session.update", "response.create"]
    h.resumed(False, replay)
    assert h.creates().count(h.core.closing) == 1, "the replay asked: not again"
    h.created("r9")
    assert h.core.turns.closing_response == "r9"


def test_words_handed_over_are_answered_unless_answering(h: Harness) -> None:
    at_boundary_playing(h)
    h.handover("u1", "  yes I am  ")
    assert h.messages("user") == ["yes I am"]
    assert h.creates() == [h.core.greeting, None]
    assert h.logged("call.words_handed_over")
    assert h.record.transcript[-1]["speaker"] == "caller"
    h.handover("u2", "and more")
    assert h.creates() == [h.core.greeting, None], "a response is asked for already"
    h.handover("u3", "   ")
    assert h.messages("user") == ["yes I am", "and more"]
