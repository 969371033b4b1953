"""Twilio request signature (X-Twilio-Signature), computed independently of the bot and twilio."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str] | None = None, *, sha256: bool = False
) -> str:
    """Return base64(HMAC-SHA1(auth_token, url + name+value of each POST param sorted by name)).

    For a WebSocket upgrade Twilio signs the exact ``wss://host/path`` URL with no params.
    `sha256`: the newer signing (HMAC-SHA256 with a SharedKey secret as `auth_token`), which
    Twilio announces with ``X-Twilio-Webhooks-Signature-Settings: key=…,algorithm=HMAC_SHA256``.
    """
    payload = url
    if params:
        payload += "".join(name + params[name] for name in sorted(params))
    algorithm = hashlib.sha256 if sha256 else hashlib.sha1
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), algorithm).digest()
    return base64.b64encode(digest).decode("ascii")
