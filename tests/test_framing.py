"""Outbound framing: whole 160-byte frames, remainders carried, tails padded, never dropped."""

from bot.framing import FrameQueue


def test_carries_a_remainder_to_the_next_delta() -> None:
    q = FrameQueue()
    q.push("i", b"\x01" * 250)
    assert q.take(10) == ("i", b"\x01" * 160)
    assert q.take(10) is None  # 90 bytes wait for more audio
    q.push("i", b"\x02" * 70)
    assert q.take(10) == ("i", b"\x01" * 90 + b"\x02" * 70)
    assert len(q) == 0


def test_end_of_item_pads_the_tail_with_mulaw_silence() -> None:
    q = FrameQueue()
    q.push("i", b"\x05" * 200)
    q.end_item("i")
    assert q.take(1) == ("i", b"\x05" * 160)
    assert q.take(1) == ("i", b"\x05" * 40 + b"\xff" * 120)
    assert q.take(1) is None


def test_a_new_item_closes_the_previous_one() -> None:
    q = FrameQueue()
    q.push("a", b"\x05" * 100)
    q.push("b", b"\x06" * 160)
    assert q.take(5) == ("a", b"\x05" * 100 + b"\xff" * 60)
    assert q.take(5) == ("b", b"\x06" * 160)


def test_take_respects_the_limit_and_clear_drops_everything() -> None:
    q = FrameQueue()
    q.push("i", b"\x00" * 1600)
    assert q.take(3) == ("i", b"\x00" * 480)
    q.clear()
    assert len(q) == 0 and q.take(5) is None


def test_a_full_queue_refuses_rather_than_grows() -> None:
    q = FrameQueue(max_bytes=320)
    assert q.push("i", b"\x00" * 320)
    assert not q.push("i", b"\x00")
    assert len(q) == 320
