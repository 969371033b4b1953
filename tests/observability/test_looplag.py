"""The event-loop lag monitor: every late timer observed, long lags warned about (rate-limited),
a blocked loop seen on a real loop, and the histogram served at /metrics by a running bot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from bot.observability.looplag import watch_loop
from bot.observability.metrics import Metrics
from tests.call.test_call_record import metric
from tests.support.bridge import bridge


class Stop(Exception):
    """Ends the monitor's loop once the scripted lags are used up."""


async def _run_scripted(lags_ms: list[float], metrics: Metrics) -> list[dict]:
    now = [0.0]
    script = iter(lags_ms)

    async def sleep(seconds: float) -> None:
        try:
            now[0] += seconds + next(script) / 1000
        except StopIteration:
            raise Stop from None

    with capture_logs() as logs:
        with pytest.raises(Stop):
            await watch_loop(metrics.loop_lag_seconds, clock=lambda: now[0], sleep=sleep)
    return [e for e in logs if e["event"] == "loop.lag"]


async def test_every_sample_is_observed_and_long_lags_warned_once_per_ten_seconds() -> None:
    metrics = Metrics()
    # 100 samples of 100 ms: lags of 60 ms at samples 0, 1, 2 (warned once: rate-limited),
    # then 99 ms at sample 99 (more than 10 s later: warned again).
    lags = [60.0, 60.0, 60.0, *([0.0] * 96), 99.0]
    warnings = await _run_scripted(lags, metrics)
    text = metrics.render().decode()
    assert metric(text, "bot_event_loop_lag_seconds_count") == 100
    assert metric(text, "bot_event_loop_lag_seconds_sum") == pytest.approx(0.279, abs=1e-6)
    assert metric(text, "bot_event_loop_lag_seconds_bucket", '{le="0.05"}') == 96
    assert [(w["lag_ms"], w["times"]) for w in warnings] == [(60.0, 1), (99.0, 3)]
    assert warnings[1]["worst_ms"] == 99.0


async def test_short_lags_are_observed_but_not_warned() -> None:
    metrics = Metrics()
    warnings = await _run_scripted([3.0, 49.0, 0.0], metrics)
    assert warnings == []
    assert metric(metrics.render().decode(), "bot_event_loop_lag_seconds_count") == 3


async def test_a_blocked_real_loop_is_seen() -> None:
    metrics = Metrics()
    with capture_logs() as logs:
        task = asyncio.create_task(watch_loop(metrics.loop_lag_seconds, every_s=0.02))
        await asyncio.sleep(0.05)
        time.sleep(0.15)  # noqa: ASYNC251  (the point: something holds the loop)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    text = metrics.render().decode()
    assert metric(text, "bot_event_loop_lag_seconds_bucket", '{le="0.1"}') < metric(
        text, "bot_event_loop_lag_seconds_count"
    ), "one sample waited behind the 150 ms block"
    assert any(e["event"] == "loop.lag" and e["lag_ms"] >= 100 for e in logs)


async def test_a_running_bot_serves_the_loop_lag_histogram(tmp_path: Path) -> None:
    async with bridge(tmp_path) as b:
        async with httpx.AsyncClient(base_url=b.base) as client:
            await asyncio.sleep(0.35)  # a few 100 ms samples
            text = (await client.get("/metrics")).text
    assert metric(text, "bot_event_loop_lag_seconds_count") >= 2
