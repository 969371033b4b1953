"""DIALER_* and TWILIO_REST_TIMEOUT_S: defaults, values, and errors that name the variable."""

from pathlib import Path

import pytest

from bot.config import ConfigError, DialerSettings, load_settings
from tests.test_config import PROD


def test_defaults_and_values(tmp_path: Path) -> None:
    assert load_settings({**PROD, "DATA_DIR": str(tmp_path)}).dialer == DialerSettings()
    s = load_settings(
        {
            **PROD,
            "DATA_DIR": str(tmp_path),
            "DIALER_CALLS_PER_SECOND": "5",
            "DIALER_MAX_ATTEMPTS": "4",
            "DIALER_RETRY_BACKOFF_S": "900",
            "DIALER_AMD_WAIT_S": "0",
            "TWILIO_REST_TIMEOUT_S": "3",
        }
    ).dialer
    assert (s.calls_per_second, s.max_attempts, s.retry_backoff_s) == (5, 4, 900)
    assert (s.amd_wait_s, s.rest_timeout_s, s.retry_backoff_max_s) == (0, 3, 7200)
    # the cap is never below the first wait
    s = load_settings({**PROD, "DATA_DIR": str(tmp_path), "DIALER_RETRY_BACKOFF_S": "9000"}).dialer
    assert s.retry_backoff_max_s == 9000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIALER_CALLS_PER_SECOND", "0"),
        ("DIALER_CALLS_PER_SECOND", "fast"),
        ("DIALER_MAX_ATTEMPTS", "0"),
        ("DIALER_MAX_ATTEMPTS", "50"),
        ("DIALER_RETRY_BACKOFF_S", "-1"),
        ("DIALER_AMD_WAIT_S", "30"),
        ("DIALER_RECOVERY_S", "0"),
        ("TWILIO_REST_TIMEOUT_S", "600"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_settings({**PROD, "DATA_DIR": str(tmp_path), name: value})


def test_resume_settings_reach_the_retry_policy(tmp_path: Path) -> None:
    from bot.scheduling.setup import retry_policy

    env = {**PROD, "DATA_DIR": str(tmp_path)}
    policy = retry_policy(load_settings(env))
    assert (policy.resume_after_s, policy.resume_window_s) == (120, 3600)
    env |= {"DIALER_RESUME_AFTER_S": "30", "RESUME_WINDOW_MIN": "15"}
    policy = retry_policy(load_settings(env))
    assert (policy.resume_after_s, policy.resume_window_s) == (30, 900)


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"DIALER_RESUME_AFTER_S": "-1"}, "DIALER_RESUME_AFTER_S"),
        ({"DIALER_RESUME_AFTER_S": "soon"}, "DIALER_RESUME_AFTER_S"),
        ({"RESUME_WINDOW_MIN": "2000"}, "RESUME_WINDOW_MIN"),
        ({"RESUME_WINDOW_MIN": "2", "DIALER_RESUME_AFTER_S": "120"}, "DIALER_RESUME_AFTER_S"),
    ],
)
def test_bad_resume_settings_name_the_variable(
    tmp_path: Path, values: dict[str, str], name: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_settings({**PROD, "DATA_DIR": str(tmp_path), **values})
