"""The recordings' two stores for the tests: a directory, and Azurite (Blob Storage)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.azurite import azurite


@pytest.fixture(params=["dir", "blob"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The recordings' store: RECORDINGS_DIR (the default), or Azurite started for the test
    and reached through a connection string."""
    if request.param == "dir":
        yield {}
        return
    with azurite(tmp_path) as connection:
        yield {"RECORDINGS_CONNECTION_STRING": connection}
