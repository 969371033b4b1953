"""The Starlette application: Twilio webhooks, the media stream route, health, and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Coroutine
from urllib.parse import parse_qsl, urlencode

import structlog
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from bot.call.bridge import handle_media_stream
from bot.config import Settings
from bot.endreasons import FAILED
from bot.http import gate
from bot.http.calls_api import api_routes
from bot.http.health import healthz, readyz, refuse_call
from bot.http.interviews_api import interview_routes
from bot.interview.call_in import CallInDirectory
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile, ProfileError
from bot.interview.session import call_session
from bot.observability import telemetry
from bot.observability.logs import SCRUBBER, mask_phone
from bot.runtime import Runtime, build_runtime
from bot.scheduling.setup import start_dialer, stop_dialer
from bot.scheduling.webhooks import on_status, outbound_answer
from bot.store import Store, database_url
from bot.store.interviews import InterviewStore
from bot.store.shared import SharedState
from bot.sweeper import run_sweeper
from bot.twilio.signing import SIGNATURE_SETTINGS, check_signature
from bot.twilio.twiml import APOLOGY, TwimlDocs, connect_twiml, hangup_twiml, load_twiml
from bot.voicelive.auth import AsyncCredential, TokenProvider, default_credential
from bot.voicelive.client import VoiceLiveConnection, open_session

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


async def metrics(request: Request) -> Response:
    """Prometheus text format: active calls, outcomes, barge-ins, response times, tokens, cost."""
    services: Runtime = request.app.state.services
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def media_stream(ws: WebSocket) -> None:
    await handle_media_stream(ws, ws.app.state.services)


async def _voice_live(
    settings: Settings, stack: contextlib.AsyncExitStack
) -> tuple[str, str | None]:
    """Voice Live's endpoint and API key: the configured ones, else the local engine's."""
    if settings.voice_live_endpoint is not None:
        return settings.voice_live_endpoint, settings.voice_live_api_key
    from bot.localengine import LocalEngine

    api_key = secrets.token_hex(16)
    SCRUBBER.add_secrets(api_key)
    engine = LocalEngine(api_key=api_key)
    endpoint = await engine.start()
    stack.push_async_callback(engine.stop)
    log.info("localengine.started", endpoint=endpoint)
    return endpoint, api_key


async def _start(
    settings: Settings,
    twiml: TwimlDocs,
    credential: AsyncCredential | None,
    stack: contextlib.AsyncExitStack,
) -> Runtime:
    """Open what calls share (model endpoint, database, runtime, background tasks); `stack`
    closes each of them, in reverse order, when the service stops or start-up fails."""
    endpoint, api_key = await _voice_live(settings, stack)
    # Entra ID (no API key): managed identity in Azure, developer sign-in locally.
    tokens = TokenProvider(credential) if api_key is None and credential else None
    if tokens is not None:
        stack.push_async_callback(tokens.close)

    async def connect(profile: Profile, context: InterviewContext) -> VoiceLiveConnection:
        with telemetry.span("voicelive.connect", auth="api-key" if api_key else "entra-id"):
            session = call_session(settings, profile, context)
            return await open_session(settings, endpoint, api_key, session, tokens)

    store = await Store.open(database_url(settings.database_url, settings.data_dir))
    stack.push_async_callback(store.close)
    shared = SharedState(store.engine)  # what every replica must agree on
    try:  # every profile is checked before the service starts
        runtime = build_runtime(settings, connect, store=store, shared=shared, twiml=twiml)
    except ProfileError as exc:
        log.error("service.invalid_profile", error=str(exc))
        raise
    stack.push_async_callback(runtime.sessions.close)
    stack.push_async_callback(stop_dialer, runtime.dialer)
    # Call records journaled while the database was down: now (start-up), then as it returns
    _own(stack, runtime.journal.run(store), "journal_replayer")
    start_dialer(runtime.dialer, settings)
    _own(
        stack,
        run_sweeper(store, settings, runtime.profiles, interviews=runtime.interviews,
                    shared=shared, instance=runtime.instance),
        "sweeper",
    )  # fmt: skip
    return runtime


def _own(stack: contextlib.AsyncExitStack, work: Coroutine[None, None, None], name: str) -> None:
    """Run `work` as a task that `stack` cancels (and awaits) when it closes."""
    task = asyncio.create_task(work, name=name)

    async def cancel() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(cancel)


def create_app(settings: Settings, *, credential: AsyncCredential | None = None) -> Starlette:
    """The service: every route, and a lifespan that owns what calls share.

    `credential` signs in to Voice Live when it has no API key (default: azure-identity's).
    """

    twiml = load_twiml(settings.twiml_dir)  # a bad document stops start-up, naming the file
    if settings.voice_live_endpoint and not settings.voice_live_api_key and credential is None:
        credential = default_credential(settings.azure_client_id)  # ImportError: no azure extra

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            runtime = await _start(settings, twiml, credential, stack)
            app.state.services = runtime
            app.state.store = runtime.store
            log.info(
                "service.started",
                public_url=settings.public_url,
                dev_mode=settings.dev_mode,
                audio_format=settings.audio_format,
            )
            yield
        log.info("service.stopped")

    routes = [
        Route("/twilio/voice", voice, methods=["POST"]),
        Route("/twilio/code", code_entered, methods=["POST"]),
        Route("/twilio/status", status, methods=["POST"]),
        Route("/twilio/amd", status, methods=["POST"]),  # async AMD results (same handling)
        Route("/twilio/stream-ended", stream_ended, methods=["POST"]),
        WebSocketRoute("/twilio/media", media_stream),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *api_routes(),
        *interview_routes(),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
