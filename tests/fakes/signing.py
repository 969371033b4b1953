"""Twilio request signature (X-Twilio-Signature), computed independently of the bot and twilio."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """Return base64(HMAC-SHA1(auth_token, url + name+value of each POST param sorted by name)).

    For a WebSocket upgrade Twilio signs the exact ``wss://host/path`` URL with no params.
    """
    payload = url
    if params:
        payload += "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
