"""The playout: whole 160-byte frames, marks and what the caller heard, pacing, and clear."""

from bot.call.playout import Playout


def test_carries_a_remainder_to_the_next_delta() -> None:
    q = Playout()
    q.push("i", b"\x01" * 250)
    assert q.take(10) == ("i", b"\x01" * 160)
    assert q.take(10) is None  # 90 bytes wait for more audio
    q.push("i", b"\x02" * 70)
    assert q.take(10) == ("i", b"\x01" * 90 + b"\x02" * 70)
    assert len(q) == 0


def test_end_of_item_pads_the_tail_with_mulaw_silence() -> None:
    q = Playout()
    q.push("i", b"\x05" * 200)
    q.end_item("i")
    assert q.take(1) == ("i", b"\x05" * 160)
    assert q.take(1) == ("i", b"\x05" * 40 + b"\xff" * 120)
    assert q.take(1) is None


def test_a_new_item_closes_the_previous_one() -> None:
    q = Playout()
    q.push("a", b"\x05" * 100)
    q.push("b", b"\x06" * 160)
    assert q.take(5) == ("a", b"\x05" * 100 + b"\xff" * 60)
    assert q.take(5) == ("b", b"\x06" * 160)


def test_take_respects_the_limit_and_clear_drops_everything() -> None:
    q = Playout()
    q.push("i", b"\x00" * 1600)
    assert q.take(3) == ("i", b"\x00" * 480)
    q.clear(now=0.0)
    assert len(q) == 0 and q.take(5) is None and not q.playing


def test_a_full_queue_refuses_rather_than_grows() -> None:
    q = Playout(max_bytes=320)
    assert q.push("i", b"\x00" * 320)
    assert not q.push("i", b"\x00")
    assert len(q) == 320


def test_marks_confirm_playback_in_order() -> None:
    p = Playout()
    m1 = p.sent("item", 800, now=0.0)  # 100 ms
    m2 = p.sent("item", 800, now=0.0)
    assert p.unconfirmed_ms == 200
    assert p.echoed(m1, now=0.1)
    assert p.unconfirmed_ms == 100
    assert p.heard_ms("item", now=0.1) == 100
    assert p.echoed(m2, now=0.2)
    assert p.idle and p.unconfirmed_ms == 0
    assert p.heard_ms("item", now=0.2) == 200


def test_heard_interpolates_within_the_playing_chunk_but_never_past_it() -> None:
    p = Playout()
    m1 = p.sent("item", 800, now=0.0)
    p.sent("item", 800, now=0.0)
    p.echoed(m1, now=0.1)
    assert p.heard_ms("item", now=0.13) == 130
    assert p.heard_ms("item", now=5.0) == 200  # clamped to what the next chunk holds


def test_echoes_caused_by_clear_do_not_count() -> None:
    p = Playout()
    m1 = p.sent("a", 800, now=0.0)
    m2 = p.sent("a", 800, now=0.0)
    p.echoed(m1, now=0.1)
    p.clear(now=0.1)
    assert p.idle and p.unconfirmed_ms == 0
    assert not p.echoed(m2, now=0.1001)  # Twilio echoes pending marks on clear
    m3 = p.sent("b", 160, now=0.2)
    assert p.unconfirmed_ms == 20
    assert p.echoed(m3, now=0.22)
    assert p.heard_ms("a", now=1.0) == 100  # what was confirmed before the clear stands
    assert p.heard_ms("b", now=1.0) == 20


def test_unknown_mark_names_are_ignored() -> None:
    p = Playout()
    p.sent("a", 160, now=0.0)
    assert not p.echoed("nobody-sent-this", now=0.1)
    assert p.unconfirmed_ms == 20


def test_pacing_keeps_at_most_ahead_ms_unconfirmed() -> None:
    p = Playout(ahead_ms=300)
    p.push("a", b"\x00" * 160 * 40)  # 800 ms
    assert p.room() == 15
    first = p.next_chunk(now=0.0, max_frames=5)
    assert first is not None and first.first and len(first.audio) == 800
    chunks = [p.next_chunk(now=0.0, max_frames=5) for _ in range(3)]
    assert [c is not None and not c.first for c in chunks] == [True, True, False]
    assert p.unconfirmed_ms == 300 and p.room() == 0
    assert p.echoed(first.mark, now=0.1)
    assert p.room() == 5 and p.pending_s == (500 + 200) / 1000


def test_clear_returns_what_the_caller_heard_of_the_current_item() -> None:
    p = Playout()
    p.push("a", b"\x00" * 1600)  # 200 ms
    c1 = p.next_chunk(now=0.0, max_frames=5)
    p.next_chunk(now=0.0, max_frames=5)
    assert c1 is not None and p.echoed(c1.mark, now=0.1)
    assert p.playing
    assert p.clear(now=0.13) == 130  # 100 confirmed + 30 ms into the next chunk
    assert not p.playing and p.idle and p.room() > 0
    assert p.clear(now=0.2) == 100  # nothing playing now: the confirmed part stands
