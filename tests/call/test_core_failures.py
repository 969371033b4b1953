"""Failed responses: asked again after a pause, the holding line from the second failure, the
call ended as model_failed after 10 s without audio; errors and a refused configuration."""

from __future__ import annotations

from bot.call.limits import MODEL_FAILED_S, RETRY_S
from bot.call.responses import Response
from bot.voicelive import events as vl
from bot.voicelive.client import ConfigRefused
from tests.call.harness import Harness


def test_a_failed_greeting_is_asked_again_after_a_pause(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.failed("r1")
    (failed,) = h.logged("voicelive.response_failed")
    assert failed["code"] == "rate_limit" and failed["failures"] == 1
    assert h.record.errors[-1]["code"] == "rate_limit"
    h.run_until(RETRY_S[0] - 0.01)
    assert h.creates() == [h.core.greeting]
    h.run_until(RETRY_S[0])
    assert h.creates() == [h.core.greeting, h.core.greeting], "the same fixed line again"
    assert h.logged("call.response_retry")[0]["fixed_line"] is True
    h.created("r2")
    h.audio("r2", "a2", 100)
    (recovered,) = h.logged("call.model_recovered")
    assert recovered["failures"] == 1 and h.core.failing_since is None
    h.run_until(60)
    assert h.hang_up is None


def test_from_the_second_failure_the_holding_line_comes_first(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.created("r2")  # an answer of the model's own
    h.failed("r2")
    h.run_until(RETRY_S[0])
    assert h.creates() == [h.core.greeting, None]
    h.created("r3")
    h.failed("r3")
    h.run_until(RETRY_S[0] + RETRY_S[1] - 0.01)
    assert len(h.creates()) == 2
    h.run_until(RETRY_S[0] + RETRY_S[1])
    assert h.creates() == [h.core.greeting, None, h.core.holding_line]
    h.created("r4")
    h.audio("r4", "a4", 300)
    h.done("r4")
    assert h.creates() == [h.core.greeting, None, h.core.holding_line, None], "then the answer"


def test_a_failed_holding_line_asks_for_the_answer(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    for n, rid in enumerate(("r2", "r3")):
        h.created(rid)
        h.failed(rid)
        h.run_until(sum(RETRY_S[: n + 1]))
    assert h.creates()[-1] == h.core.holding_line
    h.created("r4")
    h.failed("r4")  # the holding line failed too
    h.run_until(sum(RETRY_S[:3]))
    assert h.creates()[-1] is None and h.creates().count(h.core.holding_line) == 1


def test_a_retry_waits_while_another_response_runs(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.failed("r1")
    h.handover("u9", "hello?")  # asks for an answer meanwhile
    assert h.core.turns.response is Response.REQUESTED
    h.run_until(1.0)
    assert h.creates() == [h.core.greeting, None], "no second request while one is pending"
    h.created("r2")
    h.done("r2", "failed", error={"code": "x"})
    h.run_until(3.0)
    assert len(h.creates()) == 3


def test_no_audio_for_model_failed_s_ends_the_call(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.at(1.0)
    h.failed("r1")
    t = 1.0
    while t < 1.0 + MODEL_FAILED_S - 0.5:
        h.run_until(t + 0.5)
        t += 0.5
        if h.core.turns.response is Response.REQUESTED:
            h.created(f"r{t}")
            h.failed(f"r{t}")
    assert h.hang_up is None
    h.run_until(1.0 + MODEL_FAILED_S)
    assert h.hang_up == "model_failed"
    (failed,) = h.logged("call.model_failed")
    assert failed["failing_s"] == MODEL_FAILED_S
    assert h.core.next_deadline() is None and h.tick() == [], "nothing after the hang-up"


def test_a_failed_closing_line_is_asked_again_and_still_ends_the_call(h: Harness) -> None:
    h.start()
    h.created("r1")
    h.done("r1")
    h.wrap_up("time_limit")
    h.created("r2")
    h.failed("r2")
    assert h.core.turns.closing_response is None
    h.run_until(RETRY_S[0])
    assert h.creates() == [h.core.greeting, h.core.closing, h.core.closing]
    h.created("r3")
    assert h.core.turns.closing_response == "r3"
    h.audio("r3", "a3", 200)
    h.done("r3")
    h.play_all()
    assert h.hang_up == "time_limit"


def test_an_active_response_refusal_frees_the_request(h: Harness) -> None:
    h.start()
    h.model(vl.ServerError("invalid_request_error", "conversation_already_has_active_response",
                           "busy", "evt_1"))  # fmt: skip
    assert h.core.turns.response is Response.IDLE
    assert h.logged("voicelive.error")[0]["code"] == "conversation_already_has_active_response"


def test_a_cancel_the_service_already_ended_is_only_noted(h: Harness) -> None:
    h.start()
    h.model(vl.ServerError("invalid_request_error", "response_cancel_not_active", "no",
                           "cancel-1"))  # fmt: skip
    assert h.logged("voicelive.cancel_ignored") and not h.logged("voicelive.error")
    assert h.record.errors == []


def test_a_refused_optional_part_goes_on_an_essential_one_hangs_up(h: Harness) -> None:
    h.start()
    h.model(ConfigRefused("session.voice", "no such voice", "invalid_value", "voice"))
    assert h.hang_up is None
    assert h.record.errors[-1]["code"] == "config_refused"
    h.model(ConfigRefused("session.modalities", "bad", "invalid_value", None))
    assert h.hang_up == "config_refused"
    assert [e["dropped"] for e in h.logged("voicelive.config_refused")] == ["voice", None]
