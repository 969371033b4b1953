"""DATABASE_URL to an async SQLAlchemy URL (aiosqlite or asyncpg)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ASYNC_PREFIXES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def _asyncpg_query(url: str) -> str:
    """asyncpg takes ssl=…, not libpq's sslmode=…; rename it so Azure-style URLs work."""
    split = urlsplit(url)
    if "sslmode" not in split.query:
        return url
    query = [("ssl" if k == "sslmode" else k, v) for k, v in parse_qsl(split.query)]
    return urlunsplit(split._replace(query=urlencode(query)))


def database_url(raw: str | None, data_dir: Path) -> str:
    """The async URL for DATABASE_URL (None: SQLite file bot.db under data_dir, created)."""
    if raw is None or not raw.strip():
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{data_dir / 'bot.db'}"
    raw = raw.strip()
    if raw.startswith(ASYNC_PREFIXES):
        return raw
    if raw.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + raw.removeprefix("sqlite://")
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return _asyncpg_query("postgresql+asyncpg://" + raw.removeprefix(prefix))
    scheme = raw.split(":", 1)[0]
    raise ValueError(
        "DATABASE_URL: must be a sqlite:/// or postgresql:// URL "
        f"(or sqlite+aiosqlite:// / postgresql+asyncpg://); got a {scheme!r} URL"
    )
