"""A call core on a fake clock, with a fake model's events and a log of what it commanded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from bot.call import inputs as ev
from bot.call.commands import ClearPlayout, Command, HangUp, SendAudio, ToModel, TurnBoundary
from bot.call.core import CallCore
from bot.call.record import CallRecorder
from bot.cost import Prices
from bot.interview.profiles import load_profile
from bot.observability.metrics import Metrics
from bot.voicelive import events as vl
from bot.voicelive.keeper import Handover, Resumed

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "practice.toml")
MS = 8  # μ-law bytes per ms: the model speaks μ-law here, so its audio is the caller's


class Harness:
    """Feed the core, keep every command it gave, and advance a fake clock by hand."""

    def __init__(self, *, duration_s: float = 600.0, ahead_ms: float = 300.0) -> None:
        self.record = CallRecorder(None, Metrics(), Prices(), call_sid="CA1", profile=PROFILE)
        self.record.started_mono = self.t0 = 1000.0  # a round start: the same floats each run
        self.now = self.t0
        self.core = CallCore(PROFILE, self.record, Metrics(), duration_s=duration_s,
                             started=self.t0, playout_ahead_ms=ahead_ms, silence_ms=500,
                             model_bytes_per_ms=MS)  # fmt: skip
        self.commands: list[Command] = []
        self.ready = True
        self.offset_ms = 0.0
        self._echoed: set[str] = set()
        self._capture = capture_logs()
        self.logs: list[dict[str, Any]] = self._capture.__enter__()

    def close(self) -> None:
        self._capture.__exit__(None, None, None)

    # ---- the clock and the inputs -------------------------------------------------------------

    def at(self, seconds: float) -> None:
        """Move the fake clock to t0 + seconds (never back)."""
        assert self.t0 + seconds >= self.now, "the clock only moves forward"
        self.now = self.t0 + seconds

    @property
    def elapsed(self) -> float:
        return self.now - self.t0

    def feed(self, event: ev.Input) -> list[Command]:
        out = self.core.feed(event)
        self.commands += out
        return out

    def model(self, event: ev.ModelEventKind, mulaw: bytes = b"") -> list[Command]:
        return self.feed(ev.FromModel(event, self.now, self.ready, self.offset_ms, 0, mulaw))

    def tick(self) -> list[Command]:
        return self.feed(ev.Tick(self.now, self.ready))

    def run_until(self, seconds: float) -> None:
        """Tick at each deadline the core asks for, up to t0 + seconds."""
        for _ in range(10_000):
            due = self.core.next_deadline()
            if due is None or due > self.t0 + seconds + 1e-9:
                break
            self.now = max(self.now, due)
            self.tick()
        else:
            raise AssertionError("the core keeps asking for ticks it does not act on")
        self.at(max(seconds, self.elapsed))

    def start(self) -> None:
        self.feed(ev.Start(self.now, self.ready))

    def key(self, digit: str) -> list[Command]:
        return self.feed(ev.Key(digit, self.now, self.ready))

    def wrap_up(self, reason: str = "time_limit") -> list[Command]:
        return self.feed(ev.WrapUp(reason, self.now, self.ready))

    # ---- the model's side ---------------------------------------------------------------------

    def created(self, rid: str) -> list[Command]:
        return self.model(vl.ResponseCreated(rid))

    def audio(self, rid: str, item: str, ms: int) -> list[Command]:
        data = b"\x7f" * (ms * MS)
        return self.model(vl.AudioDelta(rid, item, data), mulaw=data)

    def done(self, rid: str, status: str = "completed", **fields: Any) -> list[Command]:
        return self.model(vl.ResponseDone(rid, status, None, **fields))

    def failed(self, rid: str) -> list[Command]:
        error = {"type": "server_error", "code": "rate_limit", "message": "slow down"}
        return self.done(rid, "failed", error=error)

    def speech(self, item: str = "u1", audio_start_ms: int = 0) -> list[Command]:
        return self.model(vl.SpeechStarted(audio_start_ms, item))

    def tool(self, rid: str, call_id: str, name: str, arguments: str) -> list[Command]:
        self.model(vl.FunctionCallItem(rid, call_id, name))
        return self.model(vl.FunctionCall(rid, call_id, "", arguments))

    def resumed(self, planned: bool, replayed: list[str] | None = None) -> list[Command]:
        events = tuple(self.core.fresh_session(planned) if replayed is None else replayed)
        return self.model(Resumed(planned, "test", 10.0, 1, 0.0, 0.0, events))

    def handover(self, item: str, text: str) -> list[Command]:
        return self.model(Handover(item, text))

    def echo(self, count: int | None = None) -> None:
        """Twilio echoes the marks sent so far (the first `count` of those not echoed yet)."""
        marks = [c.mark for c in self.commands if isinstance(c, SendAudio)]
        todo = [m for m in marks if m not in self._echoed][:count]
        for mark in todo:
            self._echoed.add(mark)
            self.feed(ev.MarkEchoed(mark, self.now, self.ready))

    def play_all(self, step_s: float = 0.1) -> None:
        """Echo marks, 100 ms apart, until nothing is left to play (or the call hung up)."""
        while self.core.playout.playing and self.core.hung_up is None:
            self.at(self.elapsed + step_s)
            self.echo(1)

    # ---- what the core commanded --------------------------------------------------------------

    def sent(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The events sent to the model (of this type)."""
        events = [json.loads(c.event) for c in self.commands if isinstance(c, ToModel)]
        return [e for e in events if kind is None or e["type"] == kind]

    def creates(self) -> list[str | None]:
        """The fixed line of each response.create sent (None: the model's own answer)."""
        return [_fixed(e) for e in self.sent("response.create")]

    def messages(self, role: str = "system") -> list[str]:
        return [
            e["item"]["content"][0]["text"]
            for e in self.sent("conversation.item.create")
            if e["item"].get("role") == role
        ]

    def outputs(self) -> list[dict[str, Any]]:
        items = [e["item"] for e in self.sent("conversation.item.create")]
        return [json.loads(i["output"]) for i in items if i["type"] == "function_call_output"]

    @property
    def clears(self) -> int:
        return sum(isinstance(c, ClearPlayout) for c in self.commands)

    @property
    def audio_sent_ms(self) -> float:
        return sum(len(c.audio) / MS for c in self.commands if isinstance(c, SendAudio))

    @property
    def hang_up(self) -> str | None:
        reasons = [c.reason for c in self.commands if isinstance(c, HangUp)]
        assert len(reasons) <= 1, reasons
        return reasons[0] if reasons else None

    @property
    def boundaries(self) -> int:
        return sum(isinstance(c, TurnBoundary) for c in self.commands)

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.logs if e["event"] == event]


def _fixed(create: dict[str, Any]) -> str | None:
    response = create.get("response") or {}
    message = response.get("pre_generated_assistant_message")
    return message["content"][0]["text"] if message else None
