"""Entra ID bearer tokens for Voice Live (when VOICE_LIVE_API_KEY is unset), cached and renewed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from bot.observability.logs import SCRUBBER

log = structlog.get_logger(__name__)

SCOPE = "https://ai.azure.com/.default"
# Renew this long before expiry, so a session opened (or reopened) late in a long interview
# never presents a token that runs out during its handshake.
REFRESH_MARGIN_S = 300.0


class AccessTokenLike(Protocol):
    token: str
    expires_on: int


class AsyncCredential(Protocol):
    """What we use of azure.core's AsyncTokenCredential (azure-identity's aio credentials)."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessTokenLike: ...


class TokenError(ConnectionError):
    """No token could be had; the message says why (never the token)."""


def default_credential(client_id: str | None) -> AsyncCredential:
    """Managed identity in Container Apps (AZURE_CLIENT_ID picks the user-assigned one),
    developer sign-ins (Azure CLI, azd, VS Code) locally. Imported only when used."""
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(
        managed_identity_client_id=client_id, exclude_interactive_browser_credential=True
    )


class TokenProvider:
    """One cached bearer token, renewed REFRESH_MARGIN_S before it expires; one fetch at a time."""

    def __init__(self, credential: AsyncCredential, *, scope: str = SCOPE,
                 refresh_margin_s: float = REFRESH_MARGIN_S,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.credential = credential
        self.scope = scope
        self.refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._token: AccessTokenLike | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        token = self._token
        return token is not None and token.expires_on - self._clock() > self.refresh_margin_s

    async def token(self) -> str:
        """A token with more than refresh_margin_s left; raises TokenError."""
        async with self._lock:
            if not self._fresh():
                try:
                    token = await self.credential.get_token(self.scope)
                except Exception as exc:  # azure-identity raises several types; all mean "no"
                    raise TokenError(f"no Entra ID token for {self.scope}: "
                                     f"{type(exc).__name__}: {exc}") from None  # fmt: skip
                SCRUBBER.add_secrets(token.token)
                if self._token is not None and self._token.token != token.token:
                    SCRUBBER.remove_secrets(self._token.token)  # one live token, one entry
                self._token = token
                log.info(
                    "voicelive.token_renewed",
                    expires_in_s=round(token.expires_on - self._clock()),
                )
            assert self._token is not None
            return self._token.token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    async def close(self) -> None:
        close = getattr(self.credential, "close", None)
        if close is not None:
            await close()
