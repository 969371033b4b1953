"""Telemetry: one trace per call (webhook, Voice Live connect, turns); off and unimported unset."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot.observability import telemetry
from tests.fakes import audio
from tests.support import make_settings
from tests.support.bridge import CALLER, bridge, wait_ended

CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9"
)


@pytest.fixture
def otel() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry.install(tracer_provider, MeterProvider(metric_readers=[reader]))
    try:
        yield spans, reader
    finally:
        telemetry.uninstall()


def metric_points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [point for rm in data.resource_metrics for sm in rm.scope_metrics
            for metric in sm.metrics if metric.name == name
            for point in metric.data.data_points]  # fmt: skip


async def test_one_trace_per_call_with_webhook_connect_and_turn_spans(
    tmp_path: Path, otel: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    spans, reader = otel
    async with bridge(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/calls.db") as b:
        call = await b.call()
        session = await b.vl.wait_for_session(1)
        await call.wait_for(lambda: call.played_ms() >= 1400 and call.buffered_ms() == 0)
        await call.speak(audio.ulaw_tone(1000, 300, 0.5))
        await session.wait_for(lambda: len(session.responses) == 2, timeout=5)
        await call.wait_for(lambda: call.played_ms() >= 2800, timeout=5)
        await call.hangup()
        await wait_ended(b.app_state.store, call.call_sid)

    finished = spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    assert {"twilio.voice_webhook", "voicelive.connect", "call", "turn.bot"} <= set(by_name)
    assert len({span.context.trace_id for span in finished}) == 1  # one trace for the call
    webhook, connect, whole = (by_name[n][0] for n in ("twilio.voice_webhook",
                                                        "voicelive.connect", "call"))  # fmt: skip
    assert connect.parent.span_id == webhook.context.span_id  # opened from the webhook
    assert all(t.parent.span_id == whole.context.span_id for t in by_name["turn.bot"])
    assert len(by_name["turn.bot"]) >= 2 and "turn.caller" in by_name
    assert whole.attributes["call_sid"] == call.call_sid
    assert whole.attributes["end_reason"] == "caller_hung_up" and whole.attributes["turns"] >= 2
    for span in finished:  # no phone number (nor any of its digits' tail) in any attribute
        assert all(CALLER[-4:] not in str(v) for v in span.attributes.values()), span
    calls = metric_points(reader, "bot.calls")
    assert [(p.attributes["end_reason"], p.value) for p in calls] == [("caller_hung_up", 1)]
    assert metric_points(reader, "bot.response_time")[0].count >= 1


async def test_refused_calls_are_counted(
    tmp_path: Path, otel: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    _, reader = otel
    async with bridge(tmp_path) as b:
        b.app_state.services.draining = True
        await b.post("/twilio/voice", {"CallSid": "CA" + "4" * 32, "From": CALLER})
    points = metric_points(reader, "bot.calls.refused")
    assert [(p.attributes["reason"], p.value) for p in points] == [("draining", 1)]


def test_the_trace_id_comes_from_the_call_sid_so_replicas_agree() -> None:
    def trace_id(call_sid: str) -> int:
        from opentelemetry import trace

        other_replica = telemetry._Otel(TracerProvider(), MeterProvider())
        return trace.get_current_span(other_replica.root(call_sid)).get_span_context().trace_id

    assert trace_id("CA" + "1" * 32) == trace_id("CA" + "1" * 32)
    assert trace_id("CA" + "1" * 32) != trace_id("CA" + "2" * 32)


def test_unset_it_is_off_and_opentelemetry_is_never_imported(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from bot import __main__\n"
        "from bot.http import app\n"
        "from bot.observability import telemetry\n"
        "from tests.support import make_settings\n"
        f"settings = make_settings(tmp={str(tmp_path)!r})\n"
        "app.create_app(settings)\n"
        "assert telemetry.setup(settings) is False and not telemetry.enabled()\n"
        "telemetry.call_trace('CA1').turn('bot', 0.0, False, 3)\n"
        "with telemetry.span('x', 'CA1'):\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'azure')))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_set_it_configures_azure_monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.monitor.opentelemetry as distro

    seen: dict[str, Any] = {}
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: seen.update(kw))
    settings = make_settings(tmp=tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION)
    try:
        assert telemetry.setup(settings) and telemetry.enabled()
    finally:
        telemetry.uninstall()
    assert seen["connection_string"] == CONNECTION
    assert seen["disable_logging"] is True  # logs go to Log Analytics once, from stdout
    assert CONNECTION in settings.secrets  # its key is never logged
