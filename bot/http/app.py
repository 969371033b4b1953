"""The Starlette application: its routes and its lifespan (what is opened, run and closed)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Coroutine

import structlog
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from bot.config import Settings
from bot.console.routes import console_routes
from bot.http.api_errors import http_error
from bot.http.calls_api import api_routes
from bot.http.deliveries_api import delivery_routes
from bot.http.erase_api import recording_deleter
from bot.http.health import healthz, readyz
from bot.http.interviews_api import interview_routes
from bot.http.openapi import openapi_routes
from bot.http.recording_api import recording_routes
from bot.http.webhooks import code_entered, media_stream, status, stream_ended, voice
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile, ProfileError
from bot.interview.session import call_session
from bot.observability import telemetry
from bot.observability.gcpause import GcPauses
from bot.observability.logs import SCRUBBER
from bot.observability.looplag import watch_loop
from bot.observability.stalls import watch_stalls
from bot.runtime import Runtime, build_runtime
from bot.scheduling.setup import start_dialer, stop_dialer
from bot.store import Store, database_url
from bot.store.retention import Retention
from bot.store.shared import SharedState
from bot.sweeper import run_sweeper
from bot.twilio.twiml import TwimlDocs, load_twiml
from bot.voicelive.auth import AsyncCredential, TokenProvider, default_credential
from bot.voicelive.client import VoiceLiveConnection, open_session

log = structlog.get_logger(__name__)


async def metrics(request: Request) -> Response:
    """Prometheus text format: active calls, outcomes, barge-ins, response times, tokens, cost."""
    services: Runtime = request.app.state.services
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


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
    _own(stack, watch_loop(runtime.metrics.loop_lag_seconds), "loop_lag")
    _own(stack, watch_stalls(settings.slow_callback_ms, runtime.metrics.slow_callbacks), "stalls")
    gc_pauses = GcPauses(runtime.metrics.gc_pause_seconds)  # every collection, timed
    gc_pauses.install()
    stack.callback(gc_pauses.remove)
    # Call records journaled while the database was down: now (start-up), then as it returns
    _own(stack, runtime.journal.run(store), "journal_replayer")
    start_dialer(runtime.dialer, settings)
    if runtime.deliveries is not None:  # results webhook: this replica's delivery worker
        _own(stack, runtime.deliveries.run(), "results_webhook")
    retention = Retention(  # RETENTION_DAYS, run by the sweeper every 10 minutes
        store.engine, settings.retention_days, recordings=recording_deleter(runtime),
        journal_dir=runtime.journal.directory,
    )  # fmt: skip
    _own(
        stack,
        run_sweeper(store, settings, runtime.profiles, interviews=runtime.interviews,
                    shared=shared, instance=runtime.instance, retention=retention),
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
            if settings.dev_mode and settings.api_token == settings.twilio_auth_token:
                log.info("console.signin", url=f"{settings.public_url}/console",
                         token_file=str(settings.data_dir / "dev_auth_token"))  # fmt: skip
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
        *recording_routes(),
        *interview_routes(),
        *delivery_routes(),
        *console_routes(),
        *openapi_routes(),  # GET /api/openapi.json: the document of every /api route
    ]
    # JSON errors for unknown /api routes and methods (plain text elsewhere, as before)
    errors = {HTTPException: http_error}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=errors)
