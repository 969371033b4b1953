"""Why a call ended: every end reason, and which of them failed or left no caller to answer."""

from __future__ import annotations

from enum import StrEnum


class EndReason(StrEnum):
    """How a call ended. The values are what the call log, metrics and logs have always stored;
    a member equals its string, so rows written before this enum existed still match."""

    # The caller or Twilio ended it.
    CALLER_HUNG_UP = "caller_hung_up"  # Twilio's `stop`: the caller hung up
    TWILIO_CLOSED = "twilio_closed"  # the media stream's socket closed without a `stop`
    TWILIO_IDLE_TIMEOUT = "twilio_idle_timeout"  # no media from Twilio for too long
    # We ended it, as planned.
    INTERVIEW_FINISHED = "interview_finished"  # the model ended the interview, goodbye played
    TIME_LIMIT = "time_limit"  # the profile's duration ran out (wrapped up first)
    DRAIN = "drain"  # SIGTERM: the drain timed out and wrapped the call up
    # The candidate's line (a scheduled interview is retried after these).
    NO_RESPONSE = "no_response"  # no voice and no key for the profile's silence_end_s
    ONE_WAY_AUDIO = "one_way_audio"  # a key came but no voice: they hear us, we don't hear them
    ANSWERING_MACHINE = "answering_machine"  # AMD reported a machine after the stream began
    # We failed (the caller hears the apology).
    ERROR = "error"  # a bug or an unexpected exception in the bridge
    ENGINE_UNAVAILABLE = "engine_unavailable"  # no Voice Live session could be opened
    VOICELIVE_CLOSED = "voicelive_closed"  # the model's session closed and could not be resumed
    MODEL_FAILED = "model_failed"  # responses kept failing and no audio came for 10 s
    CONFIG_REFUSED = "config_refused"  # Voice Live refused an essential part of the session
    # Written by the sweep, never by a call: the replica carrying the call died.
    INTERRUPTED = "interrupted"


# Ends that failed on our side: the record says `failed`, the caller hears the apology, and an
# interview taken by code is retried.
FAILED: frozenset[str] = frozenset(
    {
        EndReason.ERROR,
        EndReason.ENGINE_UNAVAILABLE,
        EndReason.VOICELIVE_CLOSED,
        EndReason.MODEL_FAILED,
        EndReason.CONFIG_REFUSED,
    }
)

# Ends where the candidate's line failed (silence, one-way audio): nothing failed on our side
# (the record says `completed`, no apology), but no interview took place: a scheduled interview
# is retried, its attempt's outcome is the end reason (bot/interview/lifecycle.py `unheard`).
UNHEARD: frozenset[str] = frozenset({EndReason.NO_RESPONSE, EndReason.ONE_WAY_AUDIO})

# Ends after which Twilio's call is already over: no <Connect action> request will follow.
CALLER_GONE: frozenset[str] = frozenset(
    {EndReason.CALLER_HUNG_UP, EndReason.TWILIO_CLOSED, EndReason.TWILIO_IDLE_TIMEOUT}
)
