"""Whether PUBLIC_URL reaches this bot: GET /healthz from this machine."""

from __future__ import annotations

from bot.cli.doctor.report import Check, failed, passed
from bot.config import Settings

HTTP_TIMEOUT_S = 5.0
FIX = (
    "start `bot serve` and make PUBLIC_URL the base URL Twilio reaches (your domain, or the "
    "tunnel's https URL on a laptop)"
)


async def check_public_url(settings: Settings) -> Check:
    """PUBLIC_URL/healthz answers 200 with {"status": "ok"}."""
    import httpx  # here, not at import: `bot` imports the doctor for its options

    url = settings.url_for("/healthz")
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as client:
            response = await client.get(url)
    except httpx.TimeoutException:
        return failed("public_url", f"GET {url}: no answer within {HTTP_TIMEOUT_S:g} s", FIX)
    except httpx.HTTPError as exc:
        return failed("public_url", f"GET {url}: {type(exc).__name__}: {exc}"[:300], FIX)
    if response.status_code != 200:
        return failed("public_url", f"GET {url}: HTTP {response.status_code}", FIX)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") != "ok":
        return failed("public_url", f"GET {url}: 200 but not this bot's /healthz answer", FIX)
    return passed("public_url", f"GET {url}: 200 ({body.get('active_calls', 0)} active calls)")
