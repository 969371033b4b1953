"""What the call record gives the console: a throttled live state, timeline events, usage."""

from __future__ import annotations

from typing import Any

from bot.call.record import CallRecorder
from bot.cost import Prices
from bot.observability.metrics import Metrics
from tests.support.interview import practice_profile


class Writes:
    """A store that keeps every write."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, op: str) -> Any:
        async def write(*_args: Any, **fields: Any) -> None:
            self.writes.append((op, fields))

        return write


async def test_state_changes_are_written_at_most_once_a_second() -> None:
    store = Writes()
    record = CallRecorder(store, Metrics(), Prices(), call_sid="CAstate")  # type: ignore[arg-type]
    record.start(direction="inbound", from_masked=None, to_masked=None, instance="a")
    record.state("caller_speaking")
    record.state("bot_speaking")  # within the second: not written now
    await record.finish("caller_hung_up")
    states = [f["state"] for op, f in store.writes if op == "call_updated" and "state" in f]
    assert states == ["caller_speaking"]
    ended = next(f for op, f in store.writes if op == "call_ended")
    assert ended["state"] == "bot_speaking"  # the last state goes with the summary


async def test_the_record_keeps_the_timeline_events() -> None:
    record = CallRecorder(None, Metrics(), Prices(), call_sid="CAev")
    t0 = record.started_mono
    record.turn("bot", "Hello", t0 + 0.1, item_id="i1", duration_ms=1500)
    record.turn("caller", "Hi", t0 + 2.0)
    record.key("repeat", t0 + 3.0)
    record.cut_off("i1")
    kinds = [(e["kind"], e.get("who"), e["offset_ms"]) for e in record.events]
    assert kinds == [("speech", "bot", 100.0), ("speech", "caller", 2000.0), ("key", None, 3000.0)]
    assert record.events[0]["duration_ms"] == 1500 and record.events[0]["interrupted"] is True
    record.response_time(600)
    assert record.events[-1]["kind"] == "response" and record.events[-1]["ms"] == 600


async def test_usage_by_profile_is_counted_for_metrics() -> None:
    metrics = Metrics()
    record = CallRecorder(None, metrics, Prices(), call_sid="CAu", profile=practice_profile())
    record.start(direction="inbound")
    record.usage({"output_token_details": {"audio_tokens": 1000}, "output_tokens": 1000})
    await record.finish("caller_hung_up")
    text = metrics.render().decode()
    assert 'bot_usage_calls_total{profile="practice"} 1.0' in text
    assert 'bot_usage_tokens_total{profile="practice"} 1000.0' in text
    assert 'bot_usage_cost_usd_total{profile="practice"} 0.0704' in text
