"""The caller's silence on the fake clock: a check-in, a request for a key, a goodbye ending
`no_response`; a key with no voice ends `one_way_audio`; nothing fires while anyone talks."""

from __future__ import annotations

import json

from bot.call.responses import Ending
from bot.call.silence import Stage
from bot.voicelive import events as vl
from tests.call.harness import Harness

GOOD = json.dumps({"question": 1, "score": 3, "evidence": "I led the migration"})


def say(h: Harness, rid: str, ms: int = 1000) -> None:
    """The model's response `rid`: created, `ms` of audio, done, played to its last mark."""
    h.created(rid)
    h.audio(rid, f"a-{rid}", ms)
    h.done(rid)
    h.play_all()


def greeted(h: Harness) -> float:
    """The greeting has played out; returns when (seconds from the start)."""
    h.start()
    say(h, "r1")
    return h.elapsed


def lines(h: Harness) -> list[str | None]:
    """The fixed lines asked for after the greeting."""
    return h.creates()[1:]


def codes(h: Harness) -> list[str]:
    return [e["code"] for e in h.record.errors if e["source"] == "bot"]


def test_each_stage_then_the_goodbye_ends_no_response(h: Harness) -> None:
    p = h.core.profile
    t = greeted(h)
    assert h.core.next_deadline() == h.t0 + t + p.silence_prompt_s
    h.run_until(t + p.silence_prompt_s - 0.1)
    assert lines(h) == []
    h.run_until(t + p.silence_prompt_s)
    assert lines(h) == [p.silence_prompt], "the check-in, word for word"
    say(h, "r2")  # the check-in plays: the count runs on
    h.run_until(t + p.silence_check_s - 0.1)
    assert lines(h) == [p.silence_prompt]
    h.run_until(t + p.silence_check_s)
    assert lines(h) == [p.silence_prompt, p.silence_check]
    say(h, "r3")
    h.run_until(t + p.silence_end_s - 0.1)
    assert h.core.turns.ending is Ending.TALKING
    h.run_until(t + p.silence_end_s)
    assert lines(h) == [p.silence_prompt, p.silence_check, " ".join(p.silence_goodbye.split())]
    assert h.sent("session.update")[-1]["session"] == {"turn_detection": None}
    h.created("r4")
    h.audio("r4", "a-r4", 2000)
    h.at(h.elapsed + 0.5)
    h.speech()  # the goodbye cannot be interrupted
    assert h.clears == 0 and h.sent("response.cancel") == []
    h.done("r4")
    assert h.hang_up is None, "not before the goodbye has played"
    h.play_all()
    assert h.hang_up == "no_response"
    assert codes(h) == ["silence_prompt", "silence_check", "no_response"]
    timeline = [e["kind"] for e in h.record.events if e["kind"].startswith(("silence", "no_"))]
    assert timeline == ["silence_prompt", "silence_check", "no_response"], "the console's timeline"
    assert h.core.metrics.silence_stages.labels("no_response")._value.get() == 1
    assert [e["silent_s"] for e in h.logged("call.silence_prompt")] == [p.silence_prompt_s]


def test_no_prompt_while_the_caller_speaks(h: Harness) -> None:
    t = greeted(h)
    h.at(t + 1)
    h.speech("u1")  # a long answer, still going
    h.run_until(t + 120)
    assert lines(h) == [] and h.core.silence.stage is Stage.LISTENING
    h.model(vl.SpeechStopped(120_000, "u1"))  # they stop; nobody answers them
    h.run_until(h.elapsed + h.core.profile.silence_prompt_s - 0.1)
    assert lines(h) == []
    h.run_until(h.elapsed + 0.1)
    assert lines(h) == [h.core.profile.silence_prompt]


def test_no_prompt_while_a_response_is_active(h: Harness) -> None:
    t = greeted(h)
    h.created("r2")  # the model is answering, its audio not come yet
    h.run_until(t + 120)
    assert lines(h) == []
    h.audio("r2", "a-r2", 500)
    h.done("r2")
    h.play_all()
    ended = h.elapsed
    h.run_until(ended + h.core.profile.silence_prompt_s)
    assert lines(h) == [h.core.profile.silence_prompt]


def test_no_prompt_while_a_tool_answer_is_owed(h: Harness) -> None:
    t = greeted(h)
    h.created("r2")
    h.tool("r2", "c1", "record_assessment", GOOD)
    h.done("r2")  # the tool's answer is asked for now, not created yet
    assert h.creates() == [h.core.greeting, None]
    h.run_until(t + 120)
    assert lines(h) == [None]
    say(h, "r3")
    h.run_until(h.elapsed + h.core.profile.silence_prompt_s)
    assert lines(h) == [None, h.core.profile.silence_prompt]


def test_no_prompt_before_the_last_mark_came_back(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.audio("r1", "a1", 1000)
    h.done("r1")  # sent, but Twilio has not echoed its marks
    h.run_until(120)
    assert lines(h) == []
    h.play_all()
    t = h.elapsed
    h.run_until(t + h.core.profile.silence_prompt_s)
    assert lines(h) == [h.core.profile.silence_prompt]


def test_speech_resets_every_timer(h: Harness) -> None:
    p = h.core.profile
    t = greeted(h)
    h.run_until(t + p.silence_prompt_s)
    say(h, "r2")
    h.at(t + p.silence_check_s - 2)
    h.speech("u1")  # "yes please"
    h.model(vl.SpeechStopped(1000, "u1"))
    h.at(t + p.silence_check_s + 1)
    say(h, "r3")  # the model repeats the question (its own response, server VAD)
    again = h.elapsed
    h.run_until(again + p.silence_prompt_s - 0.1)
    assert again > t + p.silence_check_s
    assert lines(h) == [p.silence_prompt], "no check 20 s after the first question"
    h.run_until(again + p.silence_prompt_s)
    assert lines(h) == [p.silence_prompt, p.silence_prompt], "a check-in again, first"
    assert h.logged("call.silence_broken")[0]["stage"] == "prompted"


def to_the_check(h: Harness) -> None:
    p = h.core.profile
    t = greeted(h)
    h.run_until(t + p.silence_prompt_s)
    say(h, "r2")
    h.run_until(t + p.silence_check_s)
    assert lines(h) == [p.silence_prompt, p.silence_check]


def test_a_key_with_no_voice_ends_one_way_audio(h: Harness) -> None:
    to_the_check(h)
    h.created("r3")
    h.audio("r3", "a-r3", 3000)
    h.done("r3")
    h.at(h.elapsed + 0.5)
    h.echo(2)
    h.key("5")  # while the request still plays: it was heard
    assert h.clears == 1, "the request stops at once"
    assert lines(h)[-1] == " ".join(h.core.profile.one_way_goodbye.split())
    assert h.messages() == [], "no key message to the model"
    say(h, "r4")
    assert h.hang_up == "one_way_audio"
    assert codes(h)[-1] == "one_way_audio"


def test_a_star_before_the_check_is_an_ordinary_key_and_starts_over(h: Harness) -> None:
    p = h.core.profile
    t = greeted(h)
    h.run_until(t + p.silence_prompt_s)
    h.created("r2")
    h.audio("r2", "a-r2", 2000)
    h.done("r2")
    h.at(h.elapsed + 0.5)
    h.echo(1)
    h.key("*")  # "... would you like me to repeat the question?": yes, at once
    assert h.clears == 1 and h.messages()[-1].startswith("Key *")
    assert lines(h) == [p.silence_prompt, None] and h.hang_up is None
    assert h.core.silence.stage is Stage.LISTENING
    say(h, "r3")  # the question again
    again = h.elapsed
    h.run_until(again + p.silence_prompt_s - 0.1)
    assert lines(h) == [p.silence_prompt, None]
    h.run_until(again + p.silence_prompt_s)
    assert lines(h) == [p.silence_prompt, None, p.silence_prompt], "from the start again"


def test_nothing_counts_before_the_bot_has_been_heard(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")  # the greeting came without audio (a glitch): nobody was asked anything
    h.run_until(120)
    assert lines(h) == []


def test_a_key_after_speaking_is_handled_as_ever(h: Harness) -> None:
    t = greeted(h)
    h.at(t + 2)
    h.speech("u1")
    h.model(vl.SpeechStopped(1000, "u1"))
    say(h, "r2")
    h.key("#")
    assert h.messages()[-1].startswith("Key #")
    assert h.creates()[-1] is None and h.hang_up is None


def test_silence_during_the_wrap_up_does_nothing(h: Harness) -> None:
    t = greeted(h)
    h.wrap_up("time_limit")
    assert lines(h) == [h.core.closing]
    h.run_until(t + 40)
    assert lines(h) == [h.core.closing] and not h.logged("call.silence_prompt")


def test_silence_while_the_closing_line_plays_out_does_nothing(h: Harness) -> None:
    t = greeted(h)
    h.wrap_up("time_limit")
    h.created("r2")
    h.audio("r2", "a-r2", 500)
    h.done("r2")
    h.run_until(t + 3)  # marks never come: the goodbye's grace ends it, no check-in
    assert lines(h) == [h.core.closing]
    h.run_until(t + 60)
    assert h.hang_up == "time_limit" and not codes(h)
