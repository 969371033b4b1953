"""The slow-callback watch: a task step that holds the loop is counted and logged with the task
and the code it ran; quick steps are not; a task still works as a task; 0 turns it off."""

from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from bot.observability.metrics import Metrics
from bot.observability.stalls import watch_stalls
from tests.call.test_call_record import metric


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call in a coroutine: what the watch is for


async def _blocking_step() -> str:
    await asyncio.sleep(0)
    _hold_the_loop(0.03)
    await asyncio.sleep(0.01)  # where the slow step stopped
    return "done"


async def _quick_steps() -> int:
    for _ in range(20):
        await asyncio.sleep(0)
    return 20


async def test_a_held_loop_is_logged_with_the_task_and_what_ran() -> None:
    metrics = Metrics()
    with capture_logs() as logs:
        watch = asyncio.create_task(watch_stalls(5.0, metrics.slow_callbacks))
        await asyncio.sleep(0)  # the watch is installed
        assert await asyncio.create_task(_quick_steps(), name="quick") == 20
        result = await asyncio.create_task(_blocking_step(), name="from_twilio")
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    assert result == "done"  # the task's result comes through the timing wrapper
    slow = [e for e in logs if e["event"] == "loop.slow_callback"]
    assert len(slow) == 1, logs
    assert slow[0]["ms"] >= 25 and slow[0]["task"] == "from_twilio" and slow[0]["times"] == 1
    assert slow[0]["resumed_at"].endswith("_blocking_step")
    assert slow[0]["ran"].split(" > ")[0].endswith(" _blocking_step")
    assert "test_stalls.py" in slow[0]["ran"]
    assert metric(metrics.render().decode(), "bot_event_loop_slow_callbacks_total") == 1


async def test_a_failing_or_cancelled_task_behaves_as_ever() -> None:
    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    watch = asyncio.create_task(watch_stalls(5.0))
    await asyncio.sleep(0)
    failing = asyncio.create_task(fail())
    sleeper = asyncio.create_task(asyncio.sleep(10))
    await asyncio.sleep(0)
    sleeper.cancel()
    results = await asyncio.gather(failing, sleeper, return_exceptions=True)
    watch.cancel()
    await asyncio.gather(watch, return_exceptions=True)
    assert isinstance(results[0], ValueError) and isinstance(results[1], asyncio.CancelledError)
    assert "fail" in repr(failing)


async def test_zero_turns_the_watch_off() -> None:
    """SLOW_CALLBACK_MS=0: no task factory, nothing timed."""
    loop = asyncio.get_running_loop()
    before = loop.get_task_factory()
    await asyncio.wait_for(watch_stalls(0), 1.0)
    assert loop.get_task_factory() is before
