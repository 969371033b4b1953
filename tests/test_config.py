"""Settings: defaults, dev mode, errors that name the variable, and the only environment reads."""

import re
from pathlib import Path

import pytest

from bot.cli.interviews import local_zone
from bot.config import ConfigError, environment, load_settings, tz_variable

BOT = Path(__file__).resolve().parents[1] / "bot"

PROD = {
    "PUBLIC_URL": "https://bot.example.com",
    "TWILIO_AUTH_TOKEN": "tok-123456",
    "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
    "TWILIO_PHONE_NUMBER": "+14155550100",
    "VOICE_LIVE_ENDPOINT": "https://res.services.ai.azure.com",
    "VOICE_LIVE_API_KEY": "key-123456",
}


def test_production_settings_and_derived_urls(tmp_path: Path) -> None:
    s = load_settings({**PROD, "DATA_DIR": str(tmp_path)})
    assert not s.dev_mode
    assert s.stream_url == "wss://bot.example.com/twilio/media"
    assert s.url_for("/twilio/voice") == "https://bot.example.com/twilio/voice"
    assert s.host == "0.0.0.0" and s.log_format == "json" and s.audio_format == "pcm16"
    assert s.playout_ahead_ms == 500
    assert "tok-123456" not in repr(s) and "key-123456" not in repr(s)
    assert set(s.secrets) == {"tok-123456", "key-123456"}


def test_dev_mode_makes_a_local_token_once_and_listens_on_loopback(tmp_path: Path) -> None:
    a = load_settings({"DATA_DIR": str(tmp_path)})
    b = load_settings({"DATA_DIR": str(tmp_path)})
    assert a.dev_mode and a.host == "127.0.0.1"
    assert a.twilio_auth_token == b.twilio_auth_token and len(a.twilio_auth_token) == 32
    assert (tmp_path / "dev_auth_token").stat().st_mode & 0o077 == 0
    assert a.public_url == "http://127.0.0.1:8080" and a.stream_url.startswith("ws://")
    assert a.voice_live_endpoint is None and a.log_format == "console"
    # `make run`'s console and /api take the same local token; API_TOKEN still wins, and
    # outside development mode an unset API_TOKEN refuses every /api request
    assert a.api_token == a.twilio_auth_token
    assert load_settings({"DATA_DIR": str(tmp_path), "API_TOKEN": "mine"}).api_token == "mine"
    assert load_settings({**PROD, "DATA_DIR": str(tmp_path)}).api_token is None


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"PUBLIC_URL": ""}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "bot.example.com"}, "PUBLIC_URL"),
        ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": "XX1"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_PHONE_NUMBER": "555-0100"}, "TWILIO_PHONE_NUMBER"),
        ({"VOICE_LIVE_ENDPOINT": "ftp://x"}, "VOICE_LIVE_ENDPOINT"),
        ({"DRAIN_TIMEOUT_S": "soon"}, "DRAIN_TIMEOUT_S"),
        ({"DRAIN_TIMEOUT_S": "-1"}, "DRAIN_TIMEOUT_S"),
        ({"MAX_CONCURRENT_CALLS": "0"}, "MAX_CONCURRENT_CALLS"),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": "abc"}, "APPLICATIONINSIGHTS_CONNECTION_STRING"),
        ({"AUDIO_FORMAT": "mp3"}, "AUDIO_FORMAT"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"PORT": "http"}, "PORT"),
        ({"PLAYOUT_AHEAD_MS": "5"}, "PLAYOUT_AHEAD_MS"),
        ({"STREAM_IDLE_TIMEOUT_S": "-1"}, "STREAM_IDLE_TIMEOUT_S"),
    ],
)
def test_bad_settings_name_the_variable(
    change: dict[str, str], variable: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}:"):
        load_settings({**PROD, "DATA_DIR": str(tmp_path), **change})


def test_dotenv_fills_in_what_the_environment_does_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("AUDIO_FORMAT=g711_ulaw\nLOG_LEVEL=debug\n")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for key in PROD:
        monkeypatch.delenv(key, raising=False)
    s = load_settings(dotenv=env_file)
    assert s.audio_format == "g711_ulaw" and s.log_level == "warning"


def test_cli_reports_a_bad_setting_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDIO_FORMAT", "opus")
    with pytest.raises(SystemExit) as exc:
        main(["serve"])
    assert exc.value.code == 2
    assert "AUDIO_FORMAT: must be one of pcm16, g711_ulaw; got 'opus'" in capsys.readouterr().err


def test_environment_is_the_process_environment_over_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=debug\nAUDIO_FORMAT=g711_ulaw\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_LEVEL", "warning")
    env = environment()
    assert env["LOG_LEVEL"] == "warning" and env["AUDIO_FORMAT"] == "g711_ulaw"
    assert environment(tmp_path / "absent.env")["LOG_LEVEL"] == "warning"


def test_tz_is_read_through_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", ":Europe/Paris")
    assert tz_variable() == "Europe/Paris" and local_zone() == "Europe/Paris"
    monkeypatch.delenv("TZ")
    assert tz_variable() == ""


def test_only_config_reads_the_environment() -> None:
    reads = re.compile(r"os\.environ|os\.getenv|getenv\(|environ\[|dotenv_values|load_dotenv")
    readers = sorted(
        str(path.relative_to(BOT)) for path in BOT.rglob("*.py") if reads.search(path.read_text())
    )
    assert readers == ["config.py"]


def test_retention_days(tmp_path: Path) -> None:
    assert load_settings({"DATA_DIR": str(tmp_path)}).retention_days == 90
    assert load_settings({"DATA_DIR": str(tmp_path), "RETENTION_DAYS": "0"}).retention_days == 0
    for bad in ("-1", "1.5", "ninety", "40000"):
        with pytest.raises(ConfigError, match="RETENTION_DAYS"):
            load_settings({"DATA_DIR": str(tmp_path), "RETENTION_DAYS": bad})
