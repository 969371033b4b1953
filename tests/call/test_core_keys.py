"""Keys: `*` repeats, `#` skips; the bot stops at once, the model is told, a new response
follows (after the cancelled one is done); presses are debounced; a reconnect defers them."""

from __future__ import annotations

from bot.call.responses import Response
from bot.interview import keys
from tests.call.harness import Harness


def speaking(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.audio("r1", "a1", 1000)


def test_star_while_the_bot_speaks_stops_it_and_answers_after_the_cancel(h: Harness) -> None:
    speaking(h)
    h.at(0.1)
    h.key("*")
    assert h.clears == 1 and len(h.sent("response.cancel")) == 1
    assert h.messages() == [keys.REPEAT.message]
    assert h.creates() == [h.core.greeting], "no new response while the cancelled one runs"
    assert h.core.turns.respond_when_done
    (key,) = h.logged("call.key")
    assert key["action"] == "repeat"
    (barge,) = h.logged("call.barge_in")
    assert barge["by"] == "key"
    assert h.record.keys == [{"key": "repeat", "offset_ms": 100.0}]
    h.done("r1", "cancelled")
    assert h.creates() == [h.core.greeting, None]
    assert h.core.turns.response is Response.REQUESTED


def test_pound_at_a_turn_boundary_asks_at_once(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.key("#")
    assert h.messages() == [keys.SKIP.message]
    assert h.creates() == [h.core.greeting, None]
    assert h.sent("response.cancel") == [] and h.clears == 0


def test_a_key_overtaking_a_requested_response_cancels_it_when_created(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.key("#")  # asks r2
    h.at(2.0)
    h.key("*")  # before r2 is created
    assert h.core.turns.response is Response.REQUESTED_TO_DROP
    assert len(h.creates()) == 2, "no second request while one is pending"
    h.created("r2")
    assert [e["event_id"] for e in h.sent("response.cancel")] == ["cancel-1"]
    h.audio("r2", "a2", 100)
    assert h.audio_sent_ms == 0, "the dropped response is not heard"
    h.done("r2", "cancelled")
    assert h.creates() == [h.core.greeting, None, None]
    assert h.messages() == [keys.SKIP.message, keys.REPEAT.message]


def test_presses_within_the_debounce_interval_count_once(h: Harness) -> None:
    speaking(h)
    h.key("*")
    h.at(keys.MIN_INTERVAL_S / 2)
    h.key("*")
    h.key("#")
    assert len(h.logged("call.key")) == 1 and len(h.messages()) == 1
    assert [e["acted"] for e in h.logged("twilio.dtmf")] == [False, False]
    h.at(keys.MIN_INTERVAL_S + 0.01)
    h.key("#")
    assert len(h.logged("call.key")) == 2


def test_other_digits_do_nothing_and_are_not_logged(h: Harness) -> None:
    speaking(h)
    h.key("5")
    assert h.clears == 0 and h.messages() == []
    (dtmf,) = h.logged("twilio.dtmf")
    assert dtmf == {"event": "twilio.dtmf", "acted": False, "log_level": "info"}


def test_a_key_during_a_reconnect_goes_to_the_new_session(h: Harness) -> None:
    speaking(h)
    h.ready = False  # the keeper is setting up a new session
    h.at(0.1)
    h.key("*")
    assert h.clears == 1, "the bot stops at once"
    assert h.messages() == [], "nothing is sent to a session that is not there"
    (deferred,) = h.logged("call.key_deferred")
    assert deferred["action"] == "repeat" and deferred["reason"] == "reconnecting"
    replay = h.core.fresh_session(False)
    assert keys.REPEAT.message in replay[-2] and '"response.create"' in replay[-1]
    h.ready = True
    h.resumed(False, replay)
    assert h.logged("call.key_applied")
    assert h.messages() == [], "the replay carried the key's message"
    assert h.core.pending_key is None and h.core.turns.response is Response.REQUESTED


def test_a_key_after_the_replay_was_built_is_sent_after_the_switch(h: Harness) -> None:
    speaking(h)
    replay = h.core.fresh_session(False)  # built before the key
    h.ready = False
    h.key("#")
    h.ready = True
    h.resumed(False, replay)
    assert h.messages() == [keys.SKIP.message]
    # the replay asked for a response already: the key's answer follows its response.done
    assert h.core.turns.respond_when_done


def test_keys_are_ignored_once_the_interview_is_ending(h: Harness) -> None:
    speaking(h)
    h.wrap_up("drain")
    h.key("*")
    assert not h.logged("call.key") and h.logged("twilio.dtmf")
    assert h.clears == 0


def test_a_response_the_service_starts_before_the_cancelled_one_ends_stays_cancellable(
    h: Harness,
) -> None:
    """A key owes an answer once the cancelled response is done; the service's own turn
    detection starts one meanwhile. Asking then must not forget that one: a barge-in over it
    still cancels it and stops its audio."""
    speaking(h)
    h.at(0.1)
    h.key("#")  # r1 cancelled; an answer is owed when its response.done comes
    h.created("r2")  # the service started a response of its own
    h.audio("r2", "a2", 700)
    h.done("r1", "cancelled")  # the owed answer is asked for while r2 runs
    assert h.core.turns.response is Response.ACTIVE and h.core.turns.response_id == "r2"
    cancels = len(h.sent("response.cancel"))
    h.speech("u2")
    assert len(h.sent("response.cancel")) == cancels + 1, "r2 is cancelled"
    assert not h.core.playout.playing, "and its audio stopped"
    h.audio("r2", "a2", 300)  # late audio of the cancelled response is dropped
    assert not h.core.playout.playing
