"""The `h` fixture: a call core on a fake clock (tests/call/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.call.harness import Harness


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    try:
        yield harness
    finally:
        harness.close()
