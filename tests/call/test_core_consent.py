"""Recording consent in the call core, on a fake clock: the notice is said first, word for word,
and key 9 opts out (then, and only with a notice given; other keys are unchanged)."""

from __future__ import annotations

from bot.call.core import CallCore
from bot.observability.metrics import Metrics
from tests.call.harness import MS, PROFILE, Harness


class Tap:
    """Stands for the call's recording: counts the stops the record asks for."""

    def __init__(self) -> None:
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1


def harness(consent: str) -> Harness:
    """The harness with a core built after the runtime set the call's consent on its record."""
    h = Harness()
    h.record.recording_consent = consent
    h.record.recording_tap = Tap()
    h.core = CallCore(PROFILE, h.record, Metrics(), duration_s=600.0, started=h.t0,
                      playout_ahead_ms=300.0, silence_ms=500, model_bytes_per_ms=MS)  # fmt: skip
    return h


def test_the_notice_opens_the_greeting_word_for_word() -> None:
    h = harness("notice_given")
    h.start()
    notice = " ".join(PROFILE.recording_notice.split())
    greeting = " ".join(PROFILE.greeting.split())
    assert h.creates() == [f"{notice} {greeting}"]
    h.close()


def test_without_a_notice_the_greeting_is_unchanged() -> None:
    for consent in ("on", "off"):
        h = harness(consent)
        h.start()
        assert h.creates() == [" ".join(PROFILE.greeting.split())]
        assert h.key("9") == [], "9 means nothing without a notice"
        assert h.record.recording_tap.stops == 0
        h.close()


def test_nine_opts_out_once_and_does_not_interrupt() -> None:
    h = harness("notice_given")
    h.start()
    h.created("r1")
    h.audio("r1", "i1", 400)
    h.at(5.0)
    assert h.key("9") == []
    assert h.record.recording_tap.stops == 1, "the recording stops and is deleted"
    assert h.clears == 0 and h.creates() == [h.core.greeting], "the bot goes on speaking"
    assert h.core.consent == "opted_out"
    assert h.logged("call.recording_consent")[-1]["consent"] == "opted_out"
    h.at(10.0)
    h.key("9")
    assert h.record.recording_tap.stops == 1, "once is enough"
    h.close()
