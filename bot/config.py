"""Settings from the environment (and an optional .env), validated once at start-up."""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.config_sections import (
    DEFAULT_DRAIN_TIMEOUT_S,
    DEFAULT_MAX_CONCURRENT_CALLS,
    DialerSettings,
    dialer_settings,
    production,
    recording,
    results_webhook,
)
from bot.config_values import ConfigError, choice, flag, http_url, number, whole
from bot.cost import Prices
from bot.voicelive.session import default_transcription_model, transcription_problem

AUDIO_FORMATS = ("pcm16", "g711_ulaw")
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
DEV_TOKEN_FILE = "dev_auth_token"
# Interview profiles: the checkout's profiles/ (next to the bot package), else ./profiles.
# Installed images set PROFILES_DIR (the Dockerfile copies profiles/ and points at it).
PROJECT_PROFILES = Path(__file__).resolve().parent.parent / "profiles"


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads. Nothing else in the code reads os.environ."""

    public_url: str
    twilio_auth_token: str
    twilio_account_sid: str | None = None
    twilio_phone_number: str | None = None
    twilio_api_url: str = DEFAULT_TWILIO_API_URL
    # The SharedKey secret for the newer webhook signing (X-Twilio-Webhooks-Signature-Settings)
    twilio_webhook_shared_key: str | None = None
    voice_live_endpoint: str | None = None
    voice_live_api_key: str | None = None
    voice_live_model: str = "gpt-realtime"
    voice_live_transcription_model: str = "gpt-4o-transcribe"  # per model (bot/voicelive/session)
    voice_live_api_version: str = "2026-07-15"
    voice_live_voice: str = "en-US-AvaNeural"
    audio_format: str = "pcm16"
    database_url: str | None = None
    api_token: str | None = None
    log_format: str = "json"
    log_level: str = "info"
    host: str = "0.0.0.0"
    port: int = 8080
    data_dir: Path = Path("data")
    dev_mode: bool = False
    playout_ahead_ms: int = 500
    start_timeout_s: float = 10.0
    idle_timeout_s: float = 10.0
    stream_token_ttl_s: float = 60.0
    voice_live_connect_timeout_s: float = 10.0
    max_frame_bytes: int = 64 * 1024
    call_heartbeat_s: float = 5.0
    # Time-keeping and session continuity (issue 5)
    max_call_duration_s: float = 3900.0  # upper bound for every call, whatever the profile says
    voice_live_session_max_s: float = 1500.0  # recycle a session after this long (at a turn)
    voice_live_reconnect_s: float = 15.0  # how long to keep trying after a session drops
    prices: Prices = field(default_factory=Prices)
    # Production on Azure (issue 8): drain, capacity, telemetry, Entra ID, TwiML documents.
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    max_concurrent_calls: int = DEFAULT_MAX_CONCURRENT_CALLS
    applicationinsights_connection_string: str | None = None
    azure_client_id: str | None = None
    twiml_dir: Path = Path("twiml")
    slow_callback_ms: float = 5.0  # a loop callback this long is logged with its stack; 0: off
    profiles_dir: Path = PROJECT_PROFILES
    default_profile: str = "practice"
    inbound_require_code: bool = False
    code_attempts_per_hour: int = 5  # wrong codes one caller number may key in per hour
    code_attempts_global_per_hour: int = 200  # wrong codes from all callers together per hour
    dialer: DialerSettings = field(default_factory=DialerSettings)
    # Results pushed (issue 16.4): interview and call events POSTed, signed, from an outbox
    results_webhook_url: str | None = None
    results_webhook_secret: str | None = None
    console_auth: str = "token"  # the console's sign-in: "token" (API_TOKEN) or "easyauth"
    retention_days: int = 90  # personal data older than this is erased; 0 keeps it (issue 16)
    # Call recordings (issue 16): consent mode, and where they are kept (bot/recording/)
    recording: str = "notice"  # off | notice | on
    recordings_dir: Path = Path("data/recordings")
    recordings_url: str | None = None  # https://<account>.blob.core.windows.net/<container>
    recordings_connection_string: str | None = None  # Azurite / development only

    def __repr__(self) -> str:  # never print secrets by accident
        return f"Settings(public_url={self.public_url!r}, dev_mode={self.dev_mode})"

    @property
    def stream_url(self) -> str:
        """The Media Streams WebSocket URL Twilio opens (and signs)."""
        split = urlsplit(self.public_url)
        scheme = "wss" if split.scheme == "https" else "ws"
        return f"{scheme}://{split.netloc}{split.path}/twilio/media"

    def url_for(self, path: str) -> str:
        """The public URL of one of our HTTP routes, as Twilio calls it."""
        return f"{self.public_url}{path}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line."""
        values = (
            self.twilio_auth_token,
            self.twilio_webhook_shared_key,
            self.voice_live_api_key,
            self.api_token,
            self.applicationinsights_connection_string,
            self.results_webhook_secret,
            self.recordings_connection_string,
        )
        return tuple(v for v in values if v)


def read_dotenv(path: Path) -> dict[str, str]:
    """Values from a .env file (missing file: nothing)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def environment(dotenv: Path | None = None) -> dict[str, str]:
    """The process environment, plus the values of `.env` (default: ./.env) it does not set."""
    return {**read_dotenv(dotenv or Path(".env")), **os.environ}


def tz_variable() -> str:
    """The TZ variable as the C library reads it (without a leading ':'); '' when unset."""
    return os.environ.get("TZ", "").lstrip(":")


def _profiles(env: Mapping[str, str]) -> tuple[Path, str]:
    raw = env.get("PROFILES_DIR", "").strip()
    directory = Path(raw) if raw else PROJECT_PROFILES
    if not raw and not directory.is_dir():
        directory = Path("profiles")
    default = env.get("DEFAULT_PROFILE", "").strip() or "practice"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", default):
        raise ConfigError(f"DEFAULT_PROFILE: must be a profile name like practice; got {default!r}")
    return directory, default


def _dev_auth_token(data_dir: Path) -> str:
    """The local development auth token, created once under data_dir (mode 0600)."""
    path = data_dir / DEV_TOKEN_FILE
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def load_settings(env: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
    """Build and validate Settings from the environment (plus .env values it does not set)."""
    if env is None:
        env = environment(dotenv)
    env = {k: v for k, v in env.items() if v is not None}

    data_dir = Path(env.get("DATA_DIR", "data"))
    auth_token = env.get("TWILIO_AUTH_TOKEN", "").strip()
    account_sid = env.get("TWILIO_ACCOUNT_SID", "").strip() or None
    phone = env.get("TWILIO_PHONE_NUMBER", "").strip() or None
    dev_mode = not (auth_token or account_sid or phone)
    if dev_mode:
        auth_token = _dev_auth_token(data_dir)
    elif not auth_token:
        raise ConfigError(
            "TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID or "
            "TWILIO_PHONE_NUMBER is set (signatures are checked with it)"
        )
    if account_sid is not None and not (account_sid.startswith("AC") and len(account_sid) == 34):
        raise ConfigError("TWILIO_ACCOUNT_SID: must look like AC followed by 32 hex digits")
    if phone is not None and not (
        phone.startswith("+") and phone[1:].isdigit() and 8 <= len(phone) <= 16
    ):
        raise ConfigError("TWILIO_PHONE_NUMBER: must be in E.164 form, like +14155550100")

    port = int(number(env, "PORT", 8080, 1, 65535))
    host = env.get("HOST", "").strip() or ("127.0.0.1" if dev_mode else "0.0.0.0")
    public_url = http_url(env, "PUBLIC_URL", "https://bot.example.com")
    if public_url is None:
        if not dev_mode:
            raise ConfigError(
                "PUBLIC_URL: required (the base URL Twilio reaches, like https://bot.example.com)"
            )
        public_url = f"http://127.0.0.1:{port}"

    endpoint = http_url(env, "VOICE_LIVE_ENDPOINT", "https://<resource>.services.ai.azure.com")
    api_key = env.get("VOICE_LIVE_API_KEY", "").strip() or None
    # With an endpoint and no key, the bot signs in with Entra ID (bot/voicelive/auth.py).

    api_version = env.get("VOICE_LIVE_API_VERSION", "2026-07-15").strip()
    if not api_version:
        raise ConfigError("VOICE_LIVE_API_VERSION: must not be empty")
    model = env.get("VOICE_LIVE_MODEL", "gpt-realtime").strip()
    if not model:
        raise ConfigError("VOICE_LIVE_MODEL: must not be empty")
    transcription = env.get("VOICE_LIVE_TRANSCRIPTION_MODEL", "").strip()
    transcription = transcription or default_transcription_model(model)
    problem = transcription_problem(model, transcription)
    if problem is not None:
        raise ConfigError(f"VOICE_LIVE_TRANSCRIPTION_MODEL: {problem}")
    voice = env.get("VOICE_LIVE_VOICE", "en-US-AvaNeural").strip()
    if not voice:
        raise ConfigError("VOICE_LIVE_VOICE: must not be empty")

    database_url = env.get("DATABASE_URL", "").strip() or None
    if database_url and not database_url.startswith(("sqlite", "postgresql", "postgres://")):
        raise ConfigError(
            "DATABASE_URL: must be a sqlite:/// or postgresql:// URL; "
            f"got a {database_url.split(':', 1)[0]!r} URL"
        )
    try:
        prices = Prices.parse(env.get("VOICE_LIVE_PRICES", ""))
    except ValueError as exc:
        raise ConfigError(f"VOICE_LIVE_PRICES: {exc}") from None
    profiles_dir, default_profile = _profiles(env)

    return Settings(
        public_url=public_url,
        twilio_auth_token=auth_token,
        twilio_account_sid=account_sid,
        twilio_phone_number=phone,
        twilio_api_url=http_url(env, "TWILIO_API_URL", DEFAULT_TWILIO_API_URL)
        or DEFAULT_TWILIO_API_URL,
        twilio_webhook_shared_key=env.get("TWILIO_WEBHOOK_SHARED_KEY", "").strip() or None,
        voice_live_endpoint=endpoint,
        voice_live_api_key=api_key,
        voice_live_model=model,
        voice_live_transcription_model=transcription,
        voice_live_api_version=api_version,
        voice_live_voice=voice,
        audio_format=choice(env, "AUDIO_FORMAT", AUDIO_FORMATS, "pcm16"),
        database_url=database_url,
        # Development mode (loopback only) signs /api and the console in with the local auth
        # token when API_TOKEN is unset, so `make run` has a usable console; elsewhere unset
        # means every /api request is refused.
        api_token=env.get("API_TOKEN", "").strip() or (auth_token if dev_mode else None),
        console_auth=choice(env, "CONSOLE_AUTH", ("token", "easyauth"), "token"),
        log_format=choice(env, "LOG_FORMAT", LOG_FORMATS, "console" if dev_mode else "json"),
        log_level=choice(env, "LOG_LEVEL", LOG_LEVELS, "info"),
        host=host,
        port=port,
        data_dir=data_dir,
        dev_mode=dev_mode,
        playout_ahead_ms=int(number(env, "PLAYOUT_AHEAD_MS", 500, 200, 2000)),
        start_timeout_s=number(env, "STREAM_START_TIMEOUT_S", 10.0, 0.1, 60),
        idle_timeout_s=number(env, "STREAM_IDLE_TIMEOUT_S", 10.0, 0.1, 300),
        stream_token_ttl_s=number(env, "STREAM_TOKEN_TTL_S", 60.0, 1, 3600),
        voice_live_connect_timeout_s=number(env, "VOICE_LIVE_CONNECT_TIMEOUT_S", 10.0, 0.1, 60),
        call_heartbeat_s=number(env, "CALL_HEARTBEAT_S", 5.0, 0.1, 300),
        max_call_duration_s=number(env, "MAX_CALL_DURATION_S", 3900.0, 1, 86400),
        voice_live_session_max_s=number(env, "VOICE_LIVE_SESSION_MAX_S", 1500.0, 1, 3600),
        voice_live_reconnect_s=number(env, "VOICE_LIVE_RECONNECT_S", 15.0, 1, 120),
        prices=prices,
        **production(env),
        profiles_dir=profiles_dir,
        default_profile=default_profile,
        inbound_require_code=flag(env, "INBOUND_REQUIRE_CODE", False),
        code_attempts_per_hour=int(number(env, "CODE_ATTEMPTS_PER_HOUR", 5, 1, 1000)),
        code_attempts_global_per_hour=int(
            number(env, "CODE_ATTEMPTS_GLOBAL_PER_HOUR", 200, 1, 1_000_000)
        ),
        dialer=dialer_settings(env),
        **results_webhook(env),
        retention_days=whole(env, "RETENTION_DAYS", 90, 0, 36500),
        **recording(env, data_dir),
    )
