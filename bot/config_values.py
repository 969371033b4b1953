"""Reading one setting from the environment: numbers, URLs, flags and choices, each refused
with a message naming the variable (ConfigError)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


def choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name, default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}: must be one of {', '.join(choices)}; got {value!r}")
    return value


def number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number; got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low:g} and {high:g}; got {raw!r}")
    return value


def http_url(env: Mapping[str, str], name: str, example: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    split = urlsplit(raw)
    if split.scheme not in ("http", "https") or not split.netloc or split.query:
        raise ConfigError(f"{name}: must be an http(s) URL like {example}; got {raw!r}")
    return raw.rstrip("/")


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: must be true or false; got {raw!r}")


def whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = number(env, name, default, low, high)
    if value != int(value):
        raise ConfigError(f"{name}: must be a whole number; got {env.get(name)!r}")
    return int(value)
