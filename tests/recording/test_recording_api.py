"""GET /api/calls/{sid}/recording with byte ranges (both stores), and `bot calls recording`."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from bot.__main__ import main
from bot.call.commands import ClearPlayout, SendAudio
from bot.recording.build import build_store
from bot.recording.ranges import Unsatisfiable, byte_range
from bot.recording.store import RecordingStore, open_call
from tests.support import make_settings, running_app

API_TOKEN = "api-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
SID = "CA" + "1" * 32
pytestmark = pytest.mark.xdist_group("recording")


async def record_one(store: RecordingStore, seconds: float = 3.0) -> None:
    """A recording made the way a call makes it: caller frames, bot audio, a clear."""
    t0 = time.monotonic() - seconds
    recording = open_call(store, SID, "on", t0)
    rng = np.random.default_rng(1)
    for i in range(int(seconds * 50)):
        frame = rng.integers(0, 255, 160, dtype=np.uint8).tobytes()  # noise: FLAC keeps its size
        recording.caller(frame, t0 + (i + 1) * 0.02)
    recording.command(SendAudio(b"\x20" * 8000, "m1"), t0 + 0.5)
    recording.command(ClearPlayout(), t0 + 1.0)
    assert (await recording.close(t0 + seconds)) is not None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-500", 100, (0, 99)),
        ("bytes=95-200", 100, (95, 99)),
        ("bytes=0-1,5-6", 100, None),  # several ranges: the whole file, as RFC 9110 allows
        ("items=0-1", 100, None),
    ],
)
def test_byte_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=9-5", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, 100)


async def test_the_recording_is_served_with_ranges(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    settings = make_settings(None, tmp_path, API_TOKEN=API_TOKEN, RECORDING="on", **store_env)
    async with running_app(settings) as (base, app):
        await record_one(app.state.services.recordings)
        url = f"/api/calls/{SID}/recording"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await client.get(url)).status_code == 401
            missing = await client.get(f"/api/calls/CA{'2' * 32}/recording", headers=AUTH)
            assert missing.status_code == 404
            assert missing.json() == {"error": f"no recording for call CA{'2' * 32}"}
            whole = await client.get(url, headers=AUTH)
            assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
            assert whole.headers["content-type"] == "audio/flac"
            body = whole.content
            size = len(body)
            assert int(whole.headers["content-length"]) == size > 10_000
            samples, rate = soundfile.read(io.BytesIO(body), dtype="int16")
            assert rate == 8000 and samples.shape == (24000, 2)
            for header, (first, last) in {
                "bytes=0-99": (0, 99),
                "bytes=1000-": (1000, size - 1),
                "bytes=-300": (size - 300, size - 1),
                f"bytes=5-{size + 50}": (5, size - 1),
            }.items():
                part = await client.get(url, headers={**AUTH, "Range": header})
                assert part.status_code == 206, header
                assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
                assert part.content == body[first : last + 1], header
            beyond = await client.get(url, headers={**AUTH, "Range": f"bytes={size}-"})
            assert beyond.status_code == 416
            assert beyond.headers["content-range"] == f"bytes */{size}"


def test_cli_downloads_a_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    monkeypatch.chdir(tmp_path)
    for name in ("RECORDINGS_URL", "RECORDINGS_CONNECTION_STRING", "RECORDINGS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    store = build_store(make_settings(None, tmp_path / "data"))
    asyncio.run(record_one(store))
    out = tmp_path / "call.flac"
    assert main(["calls", "recording", SID, "-o", str(out)]) == 0
    assert out.read_bytes() == (tmp_path / "data" / "recordings" / f"{SID}.flac").read_bytes()
    assert "bytes, 3.0 s" in capsys.readouterr().err
    assert main(["calls", "recording", "CA" + "3" * 32]) == 1
    assert "no recording for call" in capsys.readouterr().err
    assert main(["calls", "recording", "../etc"]) == 2


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"RECORDING": "always"}, "RECORDING"),
        ({"RECORDINGS_URL": "https://acct.blob.core.windows.net"}, "RECORDINGS_URL"),
        ({"RECORDINGS_URL": "https://acct.blob.core.windows.net/a/b"}, "RECORDINGS_URL"),
        ({"RECORDINGS_URL": "ftp://acct/recordings"}, "RECORDINGS_URL"),
        ({"RECORDINGS_CONNECTION_STRING": "UseDevelopmentStorage"}, "RECORDINGS_CONNECTION_STRING"),
    ],
)
def test_bad_recording_settings_name_the_variable(
    change: dict[str, str], variable: str, tmp_path: Path
) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match=f"^{variable}:"):
        make_settings(None, tmp_path, **change)


def test_recording_settings_default_to_a_notice_and_a_directory(tmp_path: Path) -> None:
    settings = make_settings(None, tmp_path, RECORDING="")
    assert settings.recording == "notice"
    assert settings.recordings_dir == tmp_path / "recordings"
    assert build_store(settings).kind == "dir"
    url = "https://acct.blob.core.windows.net/recordings"
    assert make_settings(None, tmp_path, RECORDINGS_URL=url).recordings_url == url
