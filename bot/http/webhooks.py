"""Twilio's webhooks: the voice call, the code gate's digits, status and AMD callbacks, the
end of a stream, and the media stream's upgrade (each request's signature checked)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.websockets import WebSocket

from bot.call.bridge import handle_media_stream
from bot.config import Settings
from bot.endreasons import FAILED
from bot.http import gate
from bot.http.health import refuse_call
from bot.interview.call_in import CallInDirectory
from bot.interview.context import InterviewContext
from bot.observability import telemetry
from bot.observability.logs import mask_phone
from bot.runtime import Runtime
from bot.scheduling.webhooks import on_status, outbound_answer
from bot.store.interviews import InterviewStore
from bot.twilio.signing import SIGNATURE_SETTINGS, check_signature
from bot.twilio.twiml import APOLOGY, connect_twiml, hangup_twiml

log = structlog.get_logger(__name__)

XML = "application/xml"
MAX_FORM_BYTES = 64 * 1024  # Twilio's forms are a few hundred bytes


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed limit (never read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _signed_form(request: Request) -> dict[str, str] | None:
    """The POST form if X-Twilio-Signature matches the public URL Twilio called, else None."""
    settings: Settings = request.app.state.services.settings
    body = await _body(request, MAX_FORM_BYTES)
    if body is None:
        log.warning("webhook.rejected", path=request.url.path, reason="form too large")
        raise HTTPException(413, f"form larger than {MAX_FORM_BYTES} bytes")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = settings.url_for(request.url.path)
    if request.url.query:
        url = f"{url}?{request.url.query}"
    check = check_signature(
        settings.twilio_auth_token,
        url,
        form,
        request.headers.get("x-twilio-signature", ""),
        request.headers.get(SIGNATURE_SETTINGS, ""),
        settings.twilio_webhook_shared_key,
    )
    if not check.ok:
        log.warning(
            "webhook.rejected",
            path=request.url.path,
            reason=check.reason,
            call_sid=form.get("CallSid"),
            **({"fix": check.fix} if check.fix else {}),
        )
        return None
    return form


def _forbidden() -> Response:
    return PlainTextResponse("invalid X-Twilio-Signature\n", status_code=403)


async def voice(request: Request) -> Response:
    """Twilio's voice webhook: answer with TwiML that opens the media stream (or the code gate)."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    services: Runtime = request.app.state.services
    call_sid = form.get("CallSid", "")
    if not call_sid.startswith("CA"):
        return PlainTextResponse("missing or malformed CallSid\n", status_code=400)
    settings = services.settings
    if (refused := refuse_call(services, call_sid, _capacity_retry(request))) is not None:
        return refused
    context = InterviewContext(profile=settings.default_profile)  # inbound: the default
    if request.query_params.get("interview"):  # a call the dialer placed (the query is signed)
        answer = await outbound_answer(services, request.query_params, form)
        if isinstance(answer, str):  # wait for machine detection, voicemail, or hang up
            return Response(answer, media_type=XML)
        context = answer
    log.info(
        "call.incoming",
        call_sid=call_sid,
        direction=form.get("Direction"),
        caller=mask_phone(form.get("From", "")),
        to=mask_phone(form.get("To", "")),
    )
    inbound = not form.get("Direction", "").startswith("outbound")
    if inbound and settings.inbound_require_code:  # the caller keys in their interview code
        if (limited := await _limited_at_the_door(services, form)) is not None:
            return Response(limited, media_type=XML)
        return Response(gate.ask_twiml(settings.url_for("/twilio/code"), 1), media_type=XML)
    return Response(_stream_twiml(services, form, context), media_type=XML)


CAPACITY_REDIRECTS = 2  # a full replica sends a call back through the ingress at most this often


def _capacity_retry(request: Request) -> str | None:
    """The voice webhook's URL for one more try through the ingress (None: tries used up)."""
    params = dict(request.query_params)
    tries = (
        int(params.get("capacity_retry", "0")) if params.get("capacity_retry", "").isdigit() else 0
    )
    if tries >= CAPACITY_REDIRECTS:
        return None
    params["capacity_retry"] = str(tries + 1)
    settings: Settings = request.app.state.services.settings
    return f"{settings.url_for(request.url.path)}?{urlencode(params)}"


async def _limited_at_the_door(services: Runtime, form: dict[str, str]) -> str | None:
    """The goodbye for a caller already past a limit on wrong codes (no point asking them)."""
    try:
        return await gate.refusal(services.code_limits, form.get("From", ""))
    except Exception as exc:  # the code webhook checks again (and fails closed)
        log.error("gate.limits_failed", error=type(exc).__name__, call_sid=form.get("CallSid"))
        return None


def _stream_twiml(services: Runtime, form: dict[str, str], context: InterviewContext) -> str:
    """TwiML that opens the media stream for this interview (and starts opening its session)."""
    settings, call_sid = services.settings, form.get("CallSid", "")
    # Marks the webhook in the call's trace; the Voice Live connect it starts is its child.
    with telemetry.span("twilio.voice_webhook", call_sid):
        services.sessions.prepare(call_sid, context)
    twiml = connect_twiml(
        stream_url=settings.stream_url,
        token=services.tokens.mint(call_sid),
        action_url=settings.url_for("/twilio/stream-ended"),
        status_url=settings.url_for("/twilio/status"),
        parameters={
            "direction": "outbound" if form.get("Direction", "").startswith("outbound")
            else "inbound",
            "from": mask_phone(form.get("From", "")),
            "to": mask_phone(form.get("To", "")),
            **context.parameters(),
        },
    )  # fmt: skip
    return twiml


async def code_entered(request: Request) -> Response:
    """The code gate's <Gather action>: the interview's stream, another try, or goodbye."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    services: Runtime = request.app.state.services
    attempt = gate.attempt_of(request.query_params)
    if attempt is None or not form.get("CallSid", "").startswith("CA"):
        return PlainTextResponse("missing attempt or CallSid\n", status_code=400)
    if (refused := refuse_call(services, form["CallSid"])) is not None:
        return refused  # draining or full since the caller was asked for the code
    with structlog.contextvars.bound_contextvars(call_sid=form["CallSid"]):
        directory = services.directory
        if isinstance(directory, InterviewStore):  # a matching code also takes the interview
            directory = CallInDirectory(directory, form["CallSid"], services.instance)
        twiml = await gate.code_entered(
            directory,
            form.get("Digits", ""),
            attempt,
            services.settings.url_for("/twilio/code"),
            lambda context: _stream_twiml(services, form, context),
            limits=services.code_limits,
            caller=form.get("From", ""),
        )
    return Response(twiml, media_type=XML)


async def stream_ended(request: Request) -> Response:
    """The <Connect action>: after our stream closes, hang up (with an apology if we failed)."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    services: Runtime = request.app.state.services
    outcome = await services.outcomes.take(form.get("CallSid", ""))
    if outcome is None:
        log.warning("call.stream_ended_unknown", call_sid=form.get("CallSid"),
                    meaning="no replica recorded how the stream ended: no apology")  # fmt: skip
    log.info("call.stream_ended", call_sid=form.get("CallSid"), outcome=outcome)
    return Response(hangup_twiml(APOLOGY if outcome in FAILED else None), media_type=XML)


async def status(request: Request) -> Response:
    """Twilio's call, stream and AMD status callbacks (logged; dialer attempts updated)."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    fields = (
        "CallStatus",
        "StreamEvent",
        "StreamError",
        "CallDuration",
        "SequenceNumber",
        "AnsweredBy",
        "Direction",
    )
    log.info(
        "twilio.status", call_sid=form.get("CallSid"), **{k: form[k] for k in fields if k in form}
    )
    await on_status(request.app.state.services, request.query_params, form)
    return Response(status_code=204)


async def media_stream(ws: WebSocket) -> None:
    await handle_media_stream(ws, ws.app.state.services)
