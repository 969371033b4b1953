"""Barge-in at every point of a response: the bot is silenced, the response cancelled and its
memory truncated to what was heard, exactly when each of those applies."""

from __future__ import annotations

from bot.call import inputs as ev
from bot.call.responses import Response
from bot.voicelive import events as vl
from tests.call.harness import Harness


def greeted(h: Harness) -> None:
    """The greeting is asked for and created, nothing played yet."""
    h.start()
    h.created("r1")


def test_the_greeting_is_asked_for_once_with_its_fixed_line(h: Harness) -> None:
    h.start()
    assert h.creates() == [h.core.greeting]
    assert h.logged("call.greeting_requested")
    assert h.core.turns.response is Response.REQUESTED


def test_speech_while_a_response_is_requested_not_created_cancels_nothing(h: Harness) -> None:
    h.start()
    h.speech("u1")
    assert h.sent("response.cancel") == [] and h.clears == 0
    assert not h.logged("call.barge_in") and h.record.barge_ins == 0
    assert h.core.turns.response is Response.REQUESTED  # the greeting still comes
    h.created("r1")
    h.audio("r1", "a1", 200)
    assert h.audio_sent_ms > 0, "its audio plays"


def test_speech_after_created_before_audio_cancels_without_a_clear(h: Harness) -> None:
    greeted(h)
    h.speech("u1")
    assert [e["event_id"] for e in h.sent("response.cancel")] == ["cancel-1"]
    assert h.clears == 0 and h.sent("conversation.item.truncate") == []
    assert not h.logged("call.barge_in")
    h.audio("r1", "a1", 200)  # late audio of the cancelled response
    assert h.audio_sent_ms == 0 and h.core.dropped_deltas == 1
    assert not h.core.keeps_audio("r1")


def test_speech_mid_audio_clears_cancels_and_truncates_to_what_was_heard(h: Harness) -> None:
    greeted(h)
    h.audio("r1", "a1", 1000)
    assert h.audio_sent_ms == 300, "paced: 300 ms ahead of the marks"
    h.at(0.1)
    h.echo(1)  # the first 100 ms played
    assert h.audio_sent_ms == 400
    h.at(0.15)
    h.speech("u1", audio_start_ms=1234)
    assert h.clears == 1
    assert [e["event_id"] for e in h.sent("response.cancel")] == ["cancel-1"]
    (truncate,) = h.sent("conversation.item.truncate")
    assert truncate["item_id"] == "a1" and truncate["audio_end_ms"] in (149, 150)  # 150 ms
    (barge,) = h.logged("call.barge_in")
    assert barge["heard_ms"] == 150 and barge["item_ms"] == 1000 and barge["by"] == "speech"
    assert barge["audio_start_ms"] == 1234
    assert h.record.barge_ins == 1 and h.core.utterances["a1"].cut
    assert not h.core.playout.playing and h.core.turns.response is Response.IDLE
    sent = h.audio_sent_ms
    h.audio("r1", "a1", 100)  # the rest of the cancelled response is dropped
    h.echo()
    assert h.audio_sent_ms == sent


def test_the_cancel_goes_before_the_truncate(h: Harness) -> None:
    greeted(h)
    h.audio("r1", "a1", 500)
    h.at(0.05)
    h.speech()
    kinds = [e["type"] for e in h.sent()]
    assert kinds[-2:] == ["response.cancel", "conversation.item.truncate"]


def test_speech_after_response_done_while_still_playing(h: Harness) -> None:
    greeted(h)
    h.audio("r1", "a1", 600)
    h.done("r1", transcripts={"a1": "Hello there"})
    assert h.core.at_boundary and h.boundaries == 1
    assert h.record.transcript[-1]["text"] == "Hello there"
    assert h.record.transcript[-1]["interrupted"] is False
    h.at(0.1)
    h.echo(1)
    h.at(0.12)
    h.speech()
    assert h.clears == 1
    assert h.sent("response.cancel") == [], "nothing to cancel: it is done"
    (truncate,) = h.sent("conversation.item.truncate")
    assert truncate["audio_end_ms"] in (119, 120)  # 120 ms, in floating point
    assert h.logged("call.barge_in") and not h.core.at_boundary
    assert h.record.transcript[-1]["interrupted"] is True  # the turn written is marked cut
    assert h.record.barge_ins == 1


def test_speech_after_the_playout_ended_changes_nothing(h: Harness) -> None:
    greeted(h)
    h.audio("r1", "a1", 300)
    h.done("r1")
    h.play_all()
    assert not h.core.playout.playing
    h.speech()
    assert h.clears == 0 and h.sent("response.cancel") == []
    assert h.sent("conversation.item.truncate") == []
    assert not h.logged("call.barge_in") and h.record.barge_ins == 0


def test_no_truncate_when_everything_generated_was_heard(h: Harness) -> None:
    greeted(h)
    h.audio("r1", "a1", 100)
    h.done("r1")
    h.at(0.05)
    h.echo(1)  # all 100 ms confirmed; the padded tail is still out
    h.core.playout.sent("a1", 160, h.now)  # 20 ms more of the same item, still playing
    h.at(1.0)
    h.speech()
    assert h.clears == 1 and h.sent("conversation.item.truncate") == []


def test_response_time_is_from_the_end_of_speech_to_the_first_audio_sent(h: Harness) -> None:
    greeted(h)
    h.done("r1")  # the caller speaks: 1 s of audio arrives over 1 s
    for n in range(50):
        h.at(1.0 + n * 0.02)
        h.feed(ev.CallerAudio(20, h.now))
    h.at(2.5)
    h.model(vl.SpeechStopped(1500, "u1"))
    assert h.core.unanswered
    h.at(3.0)
    h.created("r2")
    h.audio("r2", "a2", 100)
    (rt,) = h.logged("call.response_time")
    # speech ended at 1000 ms of caller audio (1500 - 500 of silence): it came at t=1.98
    assert abs(rt["ms"] - 1020) < 1
    assert h.record.response_ms == [rt["ms"]]
