"""What every request and call of one process shares, typed, and the one function building it."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import structlog

from bot.call.consent import initial as initial_consent
from bot.call.outcomes import Outcomes
from bot.call.preopen import SessionOpener
from bot.config import Settings
from bot.interview.context import InterviewContext, InterviewDirectory
from bot.interview.profiles import Profile, load_profiles
from bot.interview.session import call_session
from bot.observability.metrics import Metrics
from bot.recording.build import build_store
from bot.recording.recorder import CallRecording, NotRecording
from bot.recording.store import RecordingStore, open_call
from bot.results.delivery import DeliveryWorker
from bot.scheduling.dialer import Dialer
from bot.scheduling.setup import build_dialer, interview_store
from bot.store import Store
from bot.store.code_failures import CodeFailures
from bot.store.code_limits import CodeLimits, derive_key
from bot.store.interviews import InterviewStore
from bot.store.journal import JOURNAL_DIR, Journal
from bot.store.outbox import Outbox
from bot.store.outbox_events import enable as enable_outbox
from bot.store.shared import SharedState
from bot.twilio.signing import StreamTokens
from bot.twilio.twiml import TwimlDocs, load_twiml
from bot.voicelive.client import VoiceLiveConnection

if TYPE_CHECKING:
    from bot.call.record import CallRecorder
    from bot.twilio.media import Start
    from bot.voicelive.keeper import SessionKeeper

log = structlog.get_logger(__name__)

# Opens a Voice Live session for this interview, configured from this profile.
Connect = Callable[[Profile, InterviewContext], Awaitable[VoiceLiveConnection]]


class LiveCall(Protocol):
    """What the rest of the process may use of a call in progress (the call bridge's object)."""

    start: Start  # Twilio's `start` message: the CallSid, the stream's parameters
    model: SessionKeeper | None  # the Voice Live session, once opened
    profile: Profile
    closing: str  # the profile's closing line, said by wrap_up

    async def wrap_up(self, reason: str) -> None:
        """End the interview now: the closing line is said, plays out, then the call ends."""
        ...


def _instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Runtime:
    """Shared by every request and call of one process; built by `build_runtime`."""

    settings: Settings
    tokens: StreamTokens  # the media stream's single-use tokens
    sessions: SessionOpener  # Voice Live sessions, opened from the voice webhook
    profiles: dict[str, Profile]  # by name, loaded once from PROFILES_DIR
    twiml: TwimlDocs  # the documents ops edit in TWIML_DIR
    metrics: Metrics
    journal: Journal  # call records written while the database was down
    outcomes: Outcomes = field(default_factory=Outcomes)  # how each stream ended
    store: Store | None = None  # the call log; None writes no call records
    instance: str = field(default_factory=_instance)  # this replica, in records and logs
    silence_duration_ms: int = 500  # the session's turn_detection.silence_duration_ms
    interviews: InterviewStore | None = None  # scheduled interviews (with the store)
    directory: InterviewDirectory | None = None  # where the code gate looks codes up
    code_limits: CodeLimits | None = None  # wrong codes per caller and overall (with the store)
    dialer: Dialer | None = None  # places scheduled calls (only with Twilio REST settings)
    deliveries: DeliveryWorker | None = None  # the results webhook (with RESULTS_WEBHOOK_URL)
    active: set[LiveCall] = field(default_factory=set)  # the calls this replica carries
    draining: bool = False  # set on SIGTERM (bot/http/drain.py): no new calls, no dialing
    recordings: RecordingStore | None = None  # where call recordings are kept (bot/recording/)

    @property
    def calls(self) -> int:
        """Calls this replica carries: live ones and those whose stream is on its way."""
        return len(self.active) + len(self.sessions)

    def refusal(self) -> str | None:
        """Why this replica takes no new call now ("draining", "at capacity"), or None."""
        if self.draining:
            return "draining"
        if self.calls >= self.settings.max_concurrent_calls:
            return "at capacity"
        return None

    def record_call(self, call_sid: str, profile: Profile, record: CallRecorder
                    ) -> CallRecording | NotRecording:  # fmt: skip
        """The call's recording consent (RECORDING and the profile's notice: put on the record
        for the call core) and its recording if that allows one; record.finish closes it."""
        notice = " ".join(profile.recording_notice.split())
        record.recording_consent = consent = initial_consent(self.settings.recording, notice)
        if self.recordings is None:
            return NotRecording()
        recording = open_call(self.recordings, call_sid, consent, record.started_mono)
        record.recording_tap = recording
        return recording

    def profile_for(self, context: InterviewContext) -> Profile:
        """The profile this interview uses (the default one if the name is unknown)."""
        profile = self.profiles.get(context.profile)
        if profile is None:
            log.warning("interview.unknown_profile", profile=context.profile)
            profile = self.profiles[self.settings.default_profile]
        return profile


def build_runtime(
    settings: Settings,
    connect: Connect,
    *,
    store: Store | None = None,
    shared: SharedState | None = None,
    twiml: TwimlDocs | None = None,
) -> Runtime:
    """Everything calls share, built once: profiles (PROFILES_DIR) and TwiML documents
    (TWIML_DIR, unless given) are read here and nowhere later.

    With a `store`, outcomes and stream tokens are kept in its database (`shared`, by default
    on the store's engine), as are code limits and scheduled interviews; the dialer is built
    (not started) when the Twilio REST settings are present. Raises ProfileError or ConfigError
    naming a bad file.
    """
    profiles = load_profiles(settings.profiles_dir, settings.default_profile)
    default = profiles[settings.default_profile]

    async def open_model(context: InterviewContext) -> VoiceLiveConnection:
        # The runtime's dict, so a profile replaced while serving is used from then on.
        return await connect(profiles.get(context.profile) or default, context)

    metrics = Metrics()
    if shared is None and store is not None:
        shared = SharedState(store.engine)  # what every replica must agree on
    runtime = Runtime(
        settings=settings,
        tokens=StreamTokens(
            settings.twilio_auth_token,
            settings.stream_token_ttl_s,
            ledger=shared.redeem_token if shared is not None else None,
        ),
        sessions=SessionOpener(open_model),
        profiles=profiles,
        twiml=twiml if twiml is not None else load_twiml(settings.twiml_dir),
        metrics=metrics,
        outcomes=Outcomes(shared=shared),
        journal=Journal(settings.data_dir / JOURNAL_DIR, metrics),
        store=store,
        recordings=build_store(settings),
        silence_duration_ms=call_session(
            settings, default, InterviewContext(settings.default_profile)
        )["turn_detection"]["silence_duration_ms"],
    )
    if store is None:
        return runtime
    runtime.interviews = interview_store(settings, store.engine)
    runtime.directory = runtime.interviews  # the code gate looks interviews up here
    runtime.code_limits = CodeLimits(
        CodeFailures(store.engine),
        derive_key(settings.twilio_auth_token),
        settings.code_attempts_per_hour,
        settings.code_attempts_global_per_hour,
        metrics.code_attempts_limited,
    )
    runtime.dialer = build_dialer(
        settings,
        runtime.interviews,
        instance=runtime.instance,
        paused=lambda: runtime.draining,
        voicemail=runtime.twiml.voicemail,
    )
    if settings.results_webhook_url and settings.results_webhook_secret:
        enable_outbox(store.engine, settings.public_url)  # events written from now on
        runtime.deliveries = DeliveryWorker(
            Outbox(store.engine), settings.results_webhook_url,
            settings.results_webhook_secret, instance=runtime.instance, metrics=metrics,
        )  # fmt: skip
    return runtime
