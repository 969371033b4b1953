"""Console sign-in: API_TOKEN into a signed session cookie, or Azure Easy Auth; CSRF tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "console_session"
PRE_COOKIE = "console_signin"  # the sign-in form's CSRF token (double submit: no session yet)
SESSION_S = 8 * 3600
MODES = ("token", "easyauth")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class ConsoleAuth:
    """Who is signed in, and the CSRF token of their session.

    token: a session is `<expiry>.<nonce>.<mac>`, keyed by API_TOKEN (so every replica accepts
    it, and a new API_TOKEN signs everyone out). easyauth: the Container Apps platform signs
    people in and passes their principal in headers, trusted only in this mode.
    """

    def __init__(self, mode: str, api_token: str | None, *, secure: bool) -> None:
        if mode not in MODES:
            raise ValueError(f"CONSOLE_AUTH: must be one of {', '.join(MODES)}")
        self.mode = mode
        self.api_token = api_token
        self.secure = secure
        secret = (api_token or secrets.token_hex(32)).encode()
        self.key = hmac.new(secret, b"bot-console-v1", hashlib.sha256).digest()

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self.key, text.encode(), hashlib.sha256).digest()[:24])

    # ---- sessions ----------------------------------------------------------------------------

    def check_token(self, token: str) -> bool:
        """True when `token` is the configured API_TOKEN (constant time)."""
        if not self.api_token or not token:
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_token.encode())

    def new_session(self, now: float | None = None) -> str:
        expiry = int((now if now is not None else time.time()) + SESSION_S)
        body = f"{expiry}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac('session:' + body)}"

    def _session_id(self, request: Request) -> str | None:
        """The nonce of a valid, unexpired session cookie, else None."""
        raw = request.cookies.get(COOKIE, "")
        expiry, _, rest = raw.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (expiry.isdigit() and nonce and mac):
            return None
        if not hmac.compare_digest(mac, self._mac(f"session:{expiry}.{nonce}")):
            return None
        return nonce if int(expiry) > time.time() else None

    def user(self, request: Request) -> str | None:
        """Who is signed in ("operator" with a token session, the principal with Easy Auth)."""
        if self.mode == "easyauth":
            return principal(request)
        return "operator" if self._session_id(request) else None

    def set_session(self, response: Response) -> None:
        response.set_cookie(COOKIE, self.new_session(), max_age=SESSION_S, path="/console",
                            httponly=True, samesite="strict", secure=self.secure)  # fmt: skip

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict",
                               secure=self.secure)  # fmt: skip

    # ---- CSRF --------------------------------------------------------------------------------

    def csrf(self, request: Request) -> str:
        """The CSRF token every form of this session carries."""
        who = principal(request) if self.mode == "easyauth" else self._session_id(request)
        return self._mac(f"csrf:{who}") if who else ""

    def csrf_ok(self, request: Request, submitted: str) -> bool:
        expected = self.csrf(request)
        return bool(expected) and hmac.compare_digest(submitted.encode(), expected.encode())

    def signin_csrf(self, request: Request) -> tuple[str, bool]:
        """The sign-in form's token, and whether it must be set as a cookie (a new one)."""
        current = request.cookies.get(PRE_COOKIE, "")
        return (current, False) if len(current) >= 20 else (secrets.token_urlsafe(24), True)

    def signin_csrf_ok(self, request: Request, submitted: str) -> bool:
        current = request.cookies.get(PRE_COOKIE, "")
        return len(current) >= 20 and hmac.compare_digest(submitted.encode(), current.encode())

    def set_signin_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(PRE_COOKIE, value, max_age=3600, path="/console", httponly=True,
                            samesite="strict", secure=self.secure)  # fmt: skip


def principal(request: Request) -> str | None:
    """The signed-in user Azure Container Apps authentication passes (name, else the claims)."""
    name = request.headers.get("x-ms-client-principal-name", "").strip()
    if name:
        return name[:200]
    raw = request.headers.get("x-ms-client-principal", "")
    if not raw:
        return None
    try:
        claims = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    for claim in claims.get("claims") or []:
        if isinstance(claim, dict) and claim.get("typ") in ("name", "preferred_username"):
            return str(claim.get("val"))[:200] or None
    user_id = claims.get("userDetails") or claims.get("userId")
    return str(user_id)[:200] if user_id else None
