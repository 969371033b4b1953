"""The conversation so far, as text for a new session: order, cut-off turns, notes, bounds."""

from __future__ import annotations

import json

from bot.interview.history import CUT_OFF, OMITTED, History
from bot.voicelive import events as vl


def test_turns_keep_the_order_they_were_spoken_in_even_when_transcripts_come_late() -> None:
    h = History()
    h.assistant("a1", "Hello. Tell me about a project.")
    h.user_started("u1")
    h.assistant("a2", "Thanks. Why that one?")  # answered before the transcript arrived
    h.user("u1", "I built a billing system.")
    h.user_started("u2")  # still speaking: not replayed until its words arrive
    h.note("Assessment: question 1, score 4: 'I built a billing system.'")
    assert h.replay() == [
        ("assistant", "Hello. Tell me about a project."),
        ("user", "I built a billing system."),
        ("assistant", "Thanks. Why that one?"),
        ("system", "Assessment: question 1, score 4: 'I built a billing system.'"),
    ]


def test_a_turn_cut_off_by_the_caller_is_replayed_as_far_as_it_was_heard() -> None:
    h = History()
    h.cut_off("a1", 0.5)  # the barge-in comes before the response's words
    h.assistant("a1", "one two three four five six seven eight")
    h.assistant("a2", "alpha beta gamma delta")
    h.cut_off("a2", 0.25)  # ... or after them
    assert h.replay() == [
        ("assistant", "one two three four" + CUT_OFF),
        ("assistant", "alpha" + CUT_OFF),
    ]


def test_replay_is_bounded_and_keeps_old_notes() -> None:
    h = History(max_entries=50)
    h.note("Assessment: question 1, score 3.")
    for n in range(100):
        h.user_started(f"u{n}")
        h.user(f"u{n}", f"answer {n} " + "x" * 90)
    replay = h.replay(max_chars=1000)
    assert replay[0] == ("system", OMITTED)
    assert replay[-1][1].startswith("answer 99 ")
    assert sum(len(text) for _, text in replay[1:]) <= 1000
    assert len(h.entries()) == 50 and h.dropped == 51
    h2 = History()
    h2.note("Assessment: question 1, score 3.")
    for n in range(30):
        h2.user(f"u{n}", f"answer {n} " + "x" * 90)
    replay = h2.replay(max_chars=1000)
    assert replay[:2] == [("system", OMITTED), ("system", "Assessment: question 1, score 3.")]


def test_items_for_a_new_session_use_the_documented_content_types() -> None:
    item = json.loads(vl.message("assistant", "Hi."))
    assert item.pop("event_id").startswith("item-")
    assert item == {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "Hi."}],
        },
    }
    assert '"role":"user","content":[{"type":"input_text","text":"Yes."}]' in vl.message(
        "user", "Yes."
    )


def test_a_turn_waiting_for_its_words_holds_a_switch_for_a_few_seconds_only() -> None:
    h = History()
    h.user_started("u1")
    assert h.awaiting_words(within_s=3.0)
    h.user("u1", "Yes.")
    assert not h.awaiting_words(within_s=3.0)
    h.user_started("u2")  # its transcription failed and never comes
    h._entries[-1].at -= 5
    assert not h.awaiting_words(within_s=3.0)
