"""OpenTelemetry traces and metrics for Application Insights: one trace per call.

Off unless APPLICATIONINSIGHTS_CONNECTION_STRING is set; then (and only then) OpenTelemetry
and azure-monitor-opentelemetry are imported. When off, every hook here is a no-op function
call. A call's trace id is derived from its CallSid, so the voice webhook and the media stream
join one trace even when they land on different replicas. Spans carry the CallSid and
counts, never phone numbers or words said.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from bot.config import Settings


log = structlog.get_logger(__name__)

_otel: _Otel | None = None


def setup(settings: Settings) -> bool:
    """Send traces and metrics to Application Insights if a connection string is configured."""
    if not settings.applicationinsights_connection_string:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry import metrics, trace

    configure_azure_monitor(
        connection_string=settings.applicationinsights_connection_string,
        disable_logging=True,  # logs already reach Log Analytics from stdout; no second copy
        enable_live_metrics=False,
    )
    install(trace.get_tracer_provider(), metrics.get_meter_provider())
    log.info("telemetry.enabled", exporter="azure-monitor")
    return True


def install(tracer_provider: Any, meter_provider: Any = None) -> None:
    """Use these OpenTelemetry providers (setup() passes Azure Monitor's; tests pass their own)."""
    global _otel
    _otel = _Otel(tracer_provider, meter_provider)


def uninstall() -> None:
    global _otel
    _otel = None


def enabled() -> bool:
    return _otel is not None


@contextlib.contextmanager
def span(name: str, call_sid: str | None = None, **attributes: Any) -> Iterator[None]:
    """A span around a block (a child of the call's trace when call_sid is given)."""
    if _otel is None:
        yield
        return
    with _otel.span(name, call_sid, attributes):
        yield


def call_trace(call_sid: str) -> CallTrace:
    """The trace of one call's media stream (a no-op when telemetry is off)."""
    return CallTrace() if _otel is None else _otel.call_trace(call_sid)


def refused(reason: str) -> None:
    """A caller was turned away (draining, at capacity)."""
    if _otel is not None:
        _otel.refused.add(1, {"reason": reason})


class CallTrace:
    """No-op call trace; _CallTrace records the real one."""

    def begin(self) -> None: ...
    def turn(self, speaker: str, start_mono: float, interrupted: bool, chars: int) -> None: ...
    def response_time(self, ms: float) -> None: ...
    def end(self, end_reason: str, summary: dict[str, Any]) -> None: ...


def _wall_ns(mono: float) -> int:
    """A monotonic instant as wall-clock nanoseconds (what span timestamps are)."""
    return time.time_ns() - int((time.monotonic() - mono) * 1e9)


class _Otel:
    """The tracer and instruments, built once OpenTelemetry is known to be wanted."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from opentelemetry import metrics

        self.tracer = tracer_provider.get_tracer("bot")
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("bot")
        self.calls = meter.create_counter("bot.calls", description="Calls ended, by end reason")
        self.refused = meter.create_counter("bot.calls.refused", description="Callers turned away")
        self.response_ms = meter.create_histogram(
            "bot.response_time", unit="ms", description="Caller stops -> first bot audio sent"
        )

    def root(self, call_sid: str) -> Any:
        """A context whose (never exported) parent gives every span of this call one trace id."""
        from opentelemetry import trace

        digest = hashlib.sha256(f"call-trace:{call_sid}".encode()).digest()
        parent = trace.SpanContext(
            trace_id=int.from_bytes(digest[:16], "big") or 1,
            span_id=int.from_bytes(digest[16:24], "big") or 1,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(parent))

    @contextlib.contextmanager
    def span(self, name: str, call_sid: str | None, attributes: dict[str, Any]) -> Iterator[None]:
        context = self.root(call_sid) if call_sid else None
        if call_sid:
            attributes = {"call_sid": call_sid, **attributes}
        with self.tracer.start_as_current_span(name, context=context, attributes=attributes):
            yield

    def call_trace(self, call_sid: str) -> CallTrace:
        return _CallTrace(self, call_sid)


class _CallTrace(CallTrace):
    """The "call" span (stream start to end) with a child span per turn."""

    def __init__(self, otel: _Otel, call_sid: str) -> None:
        from opentelemetry import context, trace

        self._otel = otel
        self._context, self._trace = context, trace
        self._span = otel.tracer.start_span(
            "call", context=otel.root(call_sid), attributes={"call_sid": call_sid}
        )
        self._token: Any = None

    def begin(self) -> None:
        # Runs in the call's own task: what it does next (the Voice Live connect) is a child.
        self._token = self._context.attach(self._trace.set_span_in_context(self._span))

    def turn(self, speaker: str, start_mono: float, interrupted: bool, chars: int) -> None:
        parent = self._trace.set_span_in_context(self._span)
        self._otel.tracer.start_span(
            f"turn.{speaker}",
            context=parent,
            start_time=_wall_ns(start_mono),
            attributes={"speaker": speaker, "interrupted": interrupted, "chars": chars},
        ).end()

    def response_time(self, ms: float) -> None:
        self._otel.response_ms.record(ms)
        self._span.add_event("bot.response", {"response_ms": round(ms, 1)})

    def end(self, end_reason: str, summary: dict[str, Any]) -> None:
        self._otel.calls.add(1, {"end_reason": end_reason})
        for key in ("turns", "barge_ins", "cost_usd", "response_ms_p50"):
            if summary.get(key) is not None:
                self._span.set_attribute(key, summary[key])
        self._span.set_attribute("end_reason", end_reason)
        self._span.end()
        if self._token is not None:
            with contextlib.suppress(ValueError):  # detached from another task: harmless
                self._context.detach(self._token)
