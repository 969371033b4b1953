"""Wiring scheduling into the service: the interview store always, the dialer with Twilio REST."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.interview.schedule import RetryPolicy
from bot.scheduling.dialer import Dialer, DialerConfig, call_time_limit_s
from bot.store.interviews import InterviewStore
from bot.twilio.rest import TwilioRest

log = structlog.get_logger(__name__)


def retry_policy(settings: Settings) -> RetryPolicy:
    d = settings.dialer
    return RetryPolicy(d.max_attempts, d.retry_backoff_s, d.retry_backoff_max_s,
                       d.resume_after_s, d.resume_window_min * 60)  # fmt: skip


def interview_store(settings: Settings, engine: AsyncEngine) -> InterviewStore:
    """Scheduled interviews on the call log's engine, retried as the dialer settings say."""
    return InterviewStore(engine, retry_policy(settings))


def build_dialer(
    settings: Settings,
    interviews: InterviewStore,
    *,
    instance: str,
    paused: Callable[[], bool],
    voicemail: str,
) -> Dialer | None:
    """The dialer (not started), or None without TWILIO_ACCOUNT_SID and TWILIO_PHONE_NUMBER."""
    sid, phone = settings.twilio_account_sid, settings.twilio_phone_number
    if not (sid and phone):
        log.info(
            "dialer.disabled",
            reason="TWILIO_ACCOUNT_SID and TWILIO_PHONE_NUMBER are needed to place calls; "
            "interviews can be scheduled but nobody will be called",
        )
        return None
    d = settings.dialer
    rest = TwilioRest(sid, settings.twilio_auth_token, settings.twilio_api_url, d.rest_timeout_s)
    config = DialerConfig(
        public_url=settings.public_url,
        from_number=phone,
        calls_per_second=d.calls_per_second,
        poll_s=d.poll_s,
        rest_timeout_s=d.rest_timeout_s,
        recovery_s=d.recovery_s,
        time_limit_s=call_time_limit_s(settings.max_call_duration_s),
    )
    return Dialer(interviews, rest, config, instance=instance, paused=paused, voicemail=voicemail)


def start_dialer(dialer: Dialer | None, settings: Settings) -> None:
    """Start placing scheduled calls (no-op without a dialer)."""
    if dialer is None:
        return
    dialer.start()
    d = settings.dialer
    log.info("dialer.started", calls_per_second=d.calls_per_second, api=settings.twilio_api_url)


async def stop_dialer(dialer: Dialer | None) -> None:
    """Stop the dialer (dials in flight finish, bounded)."""
    if dialer is not None:
        await dialer.stop()
