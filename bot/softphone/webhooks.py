"""The softphone's HTTP side of Twilio: webhooks signed like Twilio's, TwiML read back."""

from __future__ import annotations

import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlencode


def post(url: str, params: dict[str, str], token: str) -> tuple[int, str]:
    """POST a form signed like Twilio; returns the status and body."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(token).compute_signature(url, params)
    request = urllib.request.Request(
        url,
        data=urlencode(params).encode(),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def parse_connect(twiml: str) -> tuple[str | None, str | None, dict[str, str], list[str]]:
    """From TwiML: the stream URL, the <Connect action>, the stream parameters and all verbs."""
    root = ET.fromstring(twiml)
    verbs = [child.tag for child in root]
    connect_verb = root.find("Connect")
    stream = connect_verb.find("Stream") if connect_verb is not None else None
    if connect_verb is None or stream is None:
        return None, None, {}, verbs
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return stream.get("url"), connect_verb.get("action"), params, verbs
