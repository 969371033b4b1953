"""Garbage collections are timed into bot_gc_pause_seconds by generation, a long one is logged,
and `bot serve`'s server freezes what its start-up built."""

from __future__ import annotations

import asyncio
import gc

import pytest
import uvicorn
from prometheus_client import CollectorRegistry, Histogram
from starlette.applications import Starlette
from structlog.testing import capture_logs

from bot.http.drain import DrainingServer
from bot.observability.gcpause import GcPauses
from bot.observability.metrics import LAG_BUCKETS, Metrics


def count(registry: CollectorRegistry, generation: str) -> float:
    value = registry.get_sample_value("bot_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def test_each_collection_is_timed_by_generation_while_installed(metrics: Metrics) -> None:
    pauses = GcPauses(metrics.gc_pause_seconds)
    pauses.install()
    try:
        gc.collect(2)
        gc.collect(0)
        assert count(metrics.registry, "2") >= 1
        assert count(metrics.registry, "0") >= 1
        total = metrics.registry.get_sample_value("bot_gc_pause_seconds_sum", {"generation": "2"})
        assert total is not None and total > 0
    finally:
        pauses.remove()
    before = count(metrics.registry, "2")
    gc.collect(2)
    assert count(metrics.registry, "2") == before  # removed: no longer timed
    assert pauses not in gc.callbacks


def test_a_long_pause_is_logged_once_per_period() -> None:
    histogram = Histogram("p", "p", ["generation"], buckets=LAG_BUCKETS,
                          registry=CollectorRegistry())  # fmt: skip
    pauses = GcPauses(histogram, warn_ms=0.0)  # every pause counts as long
    pauses.install()
    try:
        with capture_logs() as logs:
            gc.collect(2)
            gc.collect(2)
    finally:
        pauses.remove()
    warnings = [e for e in logs if e["event"] == "gc.pause"]
    assert len(warnings) == 1  # rate-limited
    assert warnings[0]["generation"] == 2 and warnings[0]["ms"] >= 0


async def test_the_server_freezes_what_start_up_built() -> None:
    config = uvicorn.Config(Starlette(), host="127.0.0.1", port=0, log_config=None,
                            lifespan="off")  # fmt: skip
    server = DrainingServer(config, lambda: None, 1.0)
    gc.unfreeze()
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, no event)
                await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 0
    finally:
        server.should_exit = True
        await task
        gc.unfreeze()  # the test process's objects go back to the collector
