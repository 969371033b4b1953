"""Who may open a media stream: the signed upgrade, a `start` event in time, and the call's
single-use stream token; anything else is refused and closed (README "Securing the stream")."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from bot.timeouts import within
from bot.twilio import media
from bot.twilio.signing import SIGNATURE_SETTINGS, TokenError, check_signature

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger("bot.call")


async def admit(ws: WebSocket, services: Runtime) -> media.Start | None:
    """The stream's `start`, once the upgrade's signature, the start and its token are checked;
    None when refused (the socket is closed)."""
    settings = services.settings
    check = check_signature(
        settings.twilio_auth_token,
        settings.stream_url,
        {},
        ws.headers.get("x-twilio-signature", ""),
        ws.headers.get(SIGNATURE_SETTINGS, ""),
        settings.twilio_webhook_shared_key,
    )
    if not check.ok:
        log.warning(
            "media.rejected",
            reason=check.reason,
            client=ws.client.host if ws.client else None,
            **({"fix": check.fix} if check.fix else {}),
        )
        await ws.close(code=1008)  # before accept: the upgrade is refused with HTTP 403
        return None
    await ws.accept()
    try:
        start = await within(_await_start(ws), settings.start_timeout_s)
    except TimeoutError:
        log.warning(
            "media.rejected", reason=f"no start event within {settings.start_timeout_s:g} s"
        )
        await close(ws, 1008, "start timeout")
        return None
    except WebSocketDisconnect:
        log.info("media.closed_before_start")
        return None
    try:
        await services.tokens.redeem(start.custom_parameters.get("token", ""), start.call_sid)
    except TokenError as exc:
        log.warning("media.rejected", reason=str(exc), call_sid=start.call_sid)
        await close(ws, 1008, "unauthorised stream")
        return None
    return start


async def _await_start(ws: WebSocket) -> media.Start:
    """Read frames until `start`; anything else before it is logged and ignored."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        frame = message.get("text")
        try:
            event = media.parse(frame if frame is not None else message.get("bytes", b""))
        except media.MediaProtocolError as exc:
            log.warning("twilio.bad_frame", reason=str(exc), before_start=True)
            continue
        if isinstance(event, media.Start):
            return event
        if not isinstance(event, media.Connected):
            log.warning("twilio.event_before_start", kind=type(event).__name__.lower())


async def close(ws: WebSocket, code: int, reason: str = "") -> None:
    if ws.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)
