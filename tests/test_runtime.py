"""The typed runtime: built once by build_runtime (profiles and TwiML read there, nowhere else),
with the store's parts only when there is a store, and every field typed."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

import bot.runtime
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile, ProfileError
from bot.runtime import Runtime, build_runtime
from bot.store import Store, database_url
from bot.store.interviews import InterviewStore
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from tests.support import make_settings

opened: list[tuple[str, InterviewContext]] = []


async def connect(profile: Profile, context: InterviewContext) -> VoiceLiveConnection:
    opened.append((profile.name, context))
    raise VoiceLiveUnavailable("no model in these tests")


def test_every_field_is_typed_without_any() -> None:
    hints = typing.get_type_hints(Runtime)
    names = [f.name for f in dataclasses.fields(Runtime)]
    assert set(names) >= {
        "settings", "tokens", "sessions", "metrics", "store", "instance", "silence_duration_ms",
        "outcomes", "active", "profiles", "directory", "code_limits", "draining", "interviews",
        "dialer", "twiml", "journal",
    }  # fmt: skip
    assert all(typing.Any not in (hints[n], *typing.get_args(hints[n])) for n in names)
    assert "Any" not in Path(bot.runtime.__file__).read_text()


def test_profiles_are_read_once_by_the_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real = bot.runtime.load_profiles

    def counting(directory: Path, default: str) -> dict[str, Profile]:
        reads.append(directory)
        return real(directory, default)

    monkeypatch.setattr(bot.runtime, "load_profiles", counting)
    settings = make_settings(tmp=tmp_path)
    runtime = build_runtime(settings, connect)
    assert reads == [settings.profiles_dir] and "practice" in runtime.profiles
    copy = dataclasses.replace(runtime)  # constructing a Runtime reads nothing
    assert reads == [settings.profiles_dir] and copy.profiles is runtime.profiles
    assert runtime.silence_duration_ms == 500
    assert runtime.store is None and runtime.interviews is None and runtime.dialer is None
    assert runtime.directory is None and runtime.code_limits is None
    assert runtime.tokens.ledger is None and runtime.outcomes.shared is None


def test_a_bad_profile_fails_the_build_naming_it(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "practice.toml").write_text("this is not toml = [")
    with pytest.raises(ProfileError):
        build_runtime(make_settings(tmp=tmp_path, PROFILES_DIR=str(profiles)), connect)


async def test_sessions_open_with_the_interviews_profile_or_the_default(tmp_path: Path) -> None:
    runtime = build_runtime(make_settings(tmp=tmp_path), connect)
    opened.clear()
    for name in ("practice", "no-such-profile"):
        with pytest.raises(VoiceLiveUnavailable):
            await runtime.sessions.open(InterviewContext(profile=name))
    assert [p for p, _ in opened] == ["practice", "practice"]
    assert runtime.profile_for(InterviewContext(profile="no-such-profile")).name == "practice"


async def test_refusal_follows_draining_and_capacity(tmp_path: Path) -> None:
    runtime = build_runtime(make_settings(tmp=tmp_path, MAX_CONCURRENT_CALLS="1"), connect)
    assert runtime.calls == 0 and runtime.refusal() is None
    runtime.sessions.prepare("CA1", InterviewContext())  # its stream is on its way
    assert runtime.calls == 1 and runtime.refusal() == "at capacity"
    runtime.draining = True
    assert runtime.refusal() == "draining"
    await runtime.sessions.close()


async def test_with_a_store_scheduling_code_limits_and_the_dialer_are_built(
    tmp_path: Path,
) -> None:
    store = await Store.open(database_url(None, tmp_path))
    try:
        runtime = build_runtime(make_settings(tmp=tmp_path), connect, store=store)
        assert isinstance(runtime.interviews, InterviewStore)
        assert runtime.directory is runtime.interviews
        assert runtime.code_limits is not None
        assert runtime.tokens.ledger is not None and runtime.outcomes.shared is not None
        dialer = runtime.dialer
        assert dialer is not None and dialer._loop is None  # built, not started
        assert dialer.voicemail == runtime.twiml.voicemail
        assert not dialer.paused()
        runtime.draining = True
        assert dialer.paused()  # no dialing while draining
        without_twilio = make_settings(tmp=tmp_path, TWILIO_ACCOUNT_SID="", TWILIO_PHONE_NUMBER="")
        assert build_runtime(without_twilio, connect, store=store).dialer is None
    finally:
        await store.close()
