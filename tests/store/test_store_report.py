"""Assessments, cut-off turns and reports in the call log (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.call.record import report_interrupted
from bot.store import Store
from tests.store.test_store import start, store  # noqa: F401  (store is the fixture)
from tests.support.interview import make_profile


async def test_assessments_and_cut_off_turns_round_trip(store: Store) -> None:  # noqa: F811
    t0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    await start(store, "CA1", at=t0, profile="backend")
    for n, (question, score) in enumerate([("Why Acme?", 2), ("How do you test it?", 4)]):
        await store.add_assessment("CA1", question=question, score=score, evidence=f"e{n}",
                                   at=t0 + timedelta(seconds=n), offset_ms=1000.0 * n)  # fmt: skip
    bot_at = t0 + timedelta(seconds=3)
    await store.add_turn("CA1", speaker="bot", text="Hi", at=bot_at, offset_ms=3000,
                         interrupted=False)  # fmt: skip
    await store.add_turn("CA1", speaker="caller", text="Hi", at=bot_at, offset_ms=3000,
                         interrupted=False)  # fmt: skip
    await store.turn_cut_off("CA1", at=bot_at)
    call = await store.get_call("CA1")
    assert call is not None
    assert call["assessments"] == [
        {"question": "Why Acme?", "score": 2, "evidence": "e0", "at": t0.isoformat(),
         "offset_ms": 0.0},
        {"question": "How do you test it?", "score": 4, "evidence": "e1",
         "at": (t0 + timedelta(seconds=1)).isoformat(), "offset_ms": 1000.0},
    ]  # fmt: skip
    assert [(t["speaker"], t["interrupted"]) for t in call["transcript"]] == [
        ("bot", True),
        ("caller", False),
    ]
    assert call["report"] is None


async def test_a_crashed_call_gets_its_report_from_what_was_stored(store: Store) -> None:  # noqa: F811
    now = datetime.now(UTC)
    profile = make_profile()
    await start(store, "CAcrash", at=now - timedelta(minutes=5), profile="backend")
    await store.add_turn("CAcrash", speaker="bot", text="Hello. What did you build last?",
                         at=now, offset_ms=10, interrupted=False)  # fmt: skip
    await store.add_assessment("CAcrash", question="What did you build last?", score=3,
                               evidence="a compiler", at=now, offset_ms=20)  # fmt: skip
    beat = (await store.get_call("CAcrash") or {})["heartbeat_at"]
    later = datetime.fromisoformat(beat) + timedelta(seconds=30)
    assert await store.mark_interrupted(stale_after_s=20, now=later) == 1

    assert await report_interrupted(store, {"backend": profile}, "backend") == 1
    assert await report_interrupted(store, {"backend": profile}, "backend") == 0, "written once"
    report = (await store.get_call("CAcrash") or {})["report"]
    assert report["end_reason"] == "interrupted" and report["profile"] == "backend"
    q1 = report["questions"][0]
    assert (q1["asked"], q1["score"], q1["evidence"]) == (True, 3, "a compiler")
    assert report["assessments"][0]["number"] == 1
    assert [t["text"] for t in report["transcript"]] == ["Hello. What did you build last?"]
