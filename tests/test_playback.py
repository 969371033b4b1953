"""What the caller heard, from marks: confirmations, clear echoes, and interpolation."""

from bot.playback import PlaybackTracker


def test_marks_confirm_playback_in_order() -> None:
    p = PlaybackTracker()
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
    p = PlaybackTracker()
    m1 = p.sent("item", 800, now=0.0)
    p.sent("item", 800, now=0.0)
    p.echoed(m1, now=0.1)
    assert p.heard_ms("item", now=0.13) == 130
    assert p.heard_ms("item", now=5.0) == 200  # clamped to what the next chunk holds


def test_echoes_caused_by_clear_do_not_count() -> None:
    p = PlaybackTracker()
    m1 = p.sent("a", 800, now=0.0)
    m2 = p.sent("a", 800, now=0.0)
    p.echoed(m1, now=0.1)
    p.cleared()
    assert p.idle and p.unconfirmed_ms == 0
    assert not p.echoed(m2, now=0.1001)  # Twilio echoes pending marks on clear
    m3 = p.sent("b", 160, now=0.2)
    assert p.unconfirmed_ms == 20
    assert p.echoed(m3, now=0.22)
    assert p.heard_ms("a", now=1.0) == 100  # what was confirmed before the clear stands
    assert p.heard_ms("b", now=1.0) == 20


def test_unknown_mark_names_are_ignored() -> None:
    p = PlaybackTracker()
    p.sent("a", 160, now=0.0)
    assert not p.echoed("nobody-sent-this", now=0.1)
    assert p.unconfirmed_ms == 20
