"""Settings read in groups: the dialer, the results webhook, recordings, and running on Azure
(bot/config.py puts them together)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.config_values import ConfigError, choice, http_url, number

# Container Apps sends SIGKILL 600 s (its maximum grace period) after SIGTERM. After the drain
# timeout a wrap-up takes at most 45 s (bot/call/core.py WRAP_UP_TIMEOUT_S), then Twilio's
# <Connect action> is awaited for 5 s: 60 s are left for that and a margin.
DEFAULT_DRAIN_TIMEOUT_S = 540.0
# One process held 80 calls with the added latency's p99 <= 20 ms each way (docs/benchmarks.md,
# issue 18); 60 leaves a quarter for webhooks, the database and a slower vCPU (docs/deploy.md).
DEFAULT_MAX_CONCURRENT_CALLS = 60


@dataclass(frozen=True)
class DialerSettings:
    """The outbound dialer's settings (DIALER_*, TWILIO_REST_TIMEOUT_S)."""

    calls_per_second: float = 1.0
    max_attempts: int = 3
    retry_backoff_s: float = 600.0
    retry_backoff_max_s: float = 7200.0
    poll_s: float = 1.0
    amd_wait_s: float = 4.0  # accepted, holds nothing since issue 14.1: streams connect at answer
    recovery_s: float = 300.0
    rest_timeout_s: float = 10.0
    resume_after_s: float = 120.0  # a dropped interview is called back after this
    resume_window_min: float = 60.0  # ... and any call of it within this resumes it


def dialer_settings(env: Mapping[str, str]) -> DialerSettings:
    backoff = number(env, "DIALER_RETRY_BACKOFF_S", 600, 1, 86400)
    resume_after = number(env, "DIALER_RESUME_AFTER_S", 120, 0, 3600)
    window = number(env, "RESUME_WINDOW_MIN", 60, 0, 1440)  # 0: dropped calls never resume
    if window and resume_after >= window * 60:
        raise ConfigError(
            f"DIALER_RESUME_AFTER_S: must be shorter than RESUME_WINDOW_MIN ({window:g} min = "
            f"{window * 60:g} s), or the call-back could never resume; got {resume_after:g}"
        )
    return DialerSettings(
        calls_per_second=number(env, "DIALER_CALLS_PER_SECOND", 1, 0.01, 100),
        max_attempts=int(number(env, "DIALER_MAX_ATTEMPTS", 3, 1, 20)),
        retry_backoff_s=backoff,
        retry_backoff_max_s=max(
            backoff, number(env, "DIALER_RETRY_BACKOFF_MAX_S", 7200, 1, 604800)
        ),
        poll_s=number(env, "DIALER_POLL_S", 1, 0.01, 60),
        amd_wait_s=number(env, "DIALER_AMD_WAIT_S", 4, 0, 10),
        recovery_s=number(env, "DIALER_RECOVERY_S", 300, 1, 86400),
        rest_timeout_s=number(env, "TWILIO_REST_TIMEOUT_S", 10, 1, 60),
        resume_after_s=resume_after,
        resume_window_min=window,
    )


def results_webhook(env: Mapping[str, str]) -> dict[str, str | None]:
    """RESULTS_WEBHOOK_URL and its signing secret (required with it, at least 16 characters)."""
    url = http_url(env, "RESULTS_WEBHOOK_URL", "https://hr.example.com/interview-results")
    secret = env.get("RESULTS_WEBHOOK_SECRET", "").strip() or None
    if url is not None and (secret is None or len(secret) < 16):
        raise ConfigError(
            "RESULTS_WEBHOOK_SECRET: required with RESULTS_WEBHOOK_URL, at least 16 characters "
            "(the events are signed with it)"
        )
    return {"results_webhook_url": url, "results_webhook_secret": secret}


def recording(env: Mapping[str, str], data_dir: Path) -> dict[str, object]:
    """RECORDING, RECORDINGS_DIR, RECORDINGS_URL, RECORDINGS_CONNECTION_STRING (issue 16)."""
    url = http_url(env, "RECORDINGS_URL", "https://<account>.blob.core.windows.net/<container>")
    if url is not None and urlsplit(url).path.strip("/").count("/") != 0:
        raise ConfigError(
            "RECORDINGS_URL: must name one container, like https://<account>."
            f"blob.core.windows.net/recordings; got {url!r}"
        )
    if url is not None and not urlsplit(url).path.strip("/"):
        raise ConfigError(f"RECORDINGS_URL: must end in the container's name; got {url!r}")
    connection = env.get("RECORDINGS_CONNECTION_STRING", "").strip() or None
    if connection is not None and "AccountKey=" not in connection:
        raise ConfigError(
            "RECORDINGS_CONNECTION_STRING: must be a storage connection string "
            "with AccountKey= (for Azurite; production uses RECORDINGS_URL)"
        )
    directory = env.get("RECORDINGS_DIR", "").strip()
    return {
        "recording": choice(env, "RECORDING", ("off", "notice", "on"), "notice"),
        "recordings_dir": Path(directory) if directory else data_dir / "recordings",
        "recordings_url": url,
        "recordings_connection_string": connection,
    }


def production(env: Mapping[str, str]) -> dict[str, object]:
    """The settings for running on Azure: drain, capacity, telemetry, identity, TwiML."""
    connection = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip() or None
    if connection is not None and "InstrumentationKey=" not in connection:
        raise ConfigError(
            "APPLICATIONINSIGHTS_CONNECTION_STRING: must be an Application Insights connection "
            "string (InstrumentationKey=…;IngestionEndpoint=…)"
        )
    return {
        "drain_timeout_s": number(env, "DRAIN_TIMEOUT_S", DEFAULT_DRAIN_TIMEOUT_S, 0, 3600),
        "max_concurrent_calls": int(
            number(env, "MAX_CONCURRENT_CALLS", DEFAULT_MAX_CONCURRENT_CALLS, 1, 10000)
        ),
        "applicationinsights_connection_string": connection,
        "azure_client_id": env.get("AZURE_CLIENT_ID", "").strip() or None,
        "twiml_dir": Path(env.get("TWIML_DIR", "").strip() or "twiml"),
        "slow_callback_ms": number(env, "SLOW_CALLBACK_MS", 5.0, 0, 1000),  # 0: off
    }
