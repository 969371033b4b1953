"""Wiring scheduling into the service: the interview store always, the dialer with Twilio REST."""

from __future__ import annotations

from typing import Any

import structlog

from bot.config import Settings
from bot.interview.schedule import RetryPolicy
from bot.scheduling.dialer import Dialer, DialerConfig, call_time_limit_s
from bot.store.interviews import InterviewStore
from bot.twilio.rest import TwilioRest

log = structlog.get_logger(__name__)


def retry_policy(settings: Settings) -> RetryPolicy:
    d = settings.dialer
    return RetryPolicy(d.max_attempts, d.retry_backoff_s, d.retry_backoff_max_s)


def start_scheduling(settings: Settings, engine: Any, services: Any) -> None:
    """Set services.interviews and, when Twilio REST settings are present, start the dialer."""
    services.interviews = InterviewStore(engine, retry_policy(settings))
    sid, phone = settings.twilio_account_sid, settings.twilio_phone_number
    if not (sid and phone):
        log.info(
            "dialer.disabled",
            reason="TWILIO_ACCOUNT_SID and TWILIO_PHONE_NUMBER are needed to place calls; "
            "interviews can be scheduled but nobody will be called",
        )
        return
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
    dialer = Dialer(
        services.interviews,
        rest,
        config,
        instance=services.instance,
        paused=lambda: bool(getattr(services, "draining", False)),
        voicemail=services.twiml.voicemail if services.twiml is not None else None,
    )
    services.dialer = dialer
    dialer.start()
    log.info("dialer.started", calls_per_second=d.calls_per_second, api=settings.twilio_api_url)


async def stop_scheduling(services: Any) -> None:
    """Stop the dialer (dials in flight finish, bounded)."""
    if getattr(services, "dialer", None) is not None:
        await services.dialer.stop()
