"""Prometheus metrics of one process (its own registry, served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RESPONSE_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)


class Metrics:
    """Everything ops graph and alert on."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_calls = Gauge("bot_active_calls", "Calls in progress", registry=r)
        self.calls = Counter("bot_calls", "Calls ended, by end reason", ["end_reason"], registry=r)
        self.barge_ins = Counter("bot_barge_ins", "Times the caller spoke over the bot",
                                 registry=r)  # fmt: skip
        self.response_seconds = Histogram(
            "bot_response_seconds", "Caller stops speaking -> first bot audio sent to Twilio",
            buckets=RESPONSE_BUCKETS, registry=r,
        )  # fmt: skip
        self.voicelive_errors = Counter("bot_voicelive_errors", "Voice Live error events",
                                        ["code"], registry=r)  # fmt: skip
        self.config_refused = Counter(
            "bot_voicelive_config_refused", "session.update parts Voice Live refused, by part "
            "(essential: the call ended)", ["part"], registry=r,
        )  # fmt: skip
        self.silence_stages = Counter(
            "bot_silence_stages", "Silence stages reached (silence_prompt, silence_check, "
            "no_response, one_way_audio)", ["stage"], registry=r,
        )  # fmt: skip
        self.tokens = Counter("bot_voicelive_tokens", "Voice Live tokens, by kind", ["kind"],
                              registry=r)  # fmt: skip
        self.cost_usd = Counter("bot_voicelive_cost_usd", "Estimated Voice Live cost in USD",
                                registry=r)  # fmt: skip
        self.code_attempts_limited = Counter(
            "bot_code_attempts_limited", "Interview codes refused unchecked: the caller's "
            "number or all callers were past their hourly limit of wrong codes", ["scope"],
            registry=r,
        )  # fmt: skip
        for scope in ("caller", "global"):
            self.code_attempts_limited.labels(scope)

        self.record_writes_pending = Gauge(
            "bot_record_writes_pending", "Call record writes waiting for the database",
            registry=r,
        )  # fmt: skip
        self.record_write_retries = Counter(
            "bot_record_write_retries", "Call record writes retried (the database did not "
            "answer)", registry=r,
        )  # fmt: skip
        self.record_journaled = Counter(
            "bot_record_journaled", "Call record writes saved to the journal (the call ended "
            "with the database down)", registry=r,
        )  # fmt: skip
        self.record_journal_files = Gauge(
            "bot_record_journal_files", "Journal files (calls) waiting to be replayed",
            registry=r,
        )  # fmt: skip

        self.webhook_deliveries = Counter(
            "bot_webhook_deliveries", "Results webhook delivery attempts, by outcome "
            "(delivered, retry, failed)", ["outcome"], registry=r,
        )  # fmt: skip
        for outcome in ("delivered", "retry", "failed"):
            self.webhook_deliveries.labels(outcome)
        self.webhook_backlog = Gauge(
            "bot_webhook_outbox_backlog", "Results webhook events not yet delivered nor failed",
            registry=r,
        )  # fmt: skip
        # Usage by profile, as the console's Usage page shows it from the call log (issue 17)
        self.usage_calls = Counter("bot_usage_calls", "Calls ended, by profile", ["profile"],
                                   registry=r)  # fmt: skip
        self.usage_call_seconds = Counter("bot_usage_call_seconds", "Call time, by profile",
                                          ["profile"], registry=r)  # fmt: skip
        self.usage_tokens = Counter("bot_usage_tokens", "Voice Live tokens, by profile",
                                    ["profile"], registry=r)  # fmt: skip
        self.usage_cost_usd = Counter("bot_usage_cost_usd", "Estimated Voice Live cost in USD, "
                                      "by profile", ["profile"], registry=r)  # fmt: skip

        self.loop_lag_seconds = Histogram(
            "bot_event_loop_lag_seconds", "How late the event loop ran a 100 ms timer: what "
            "every call's audio waited behind (bot/observability/looplag.py)",
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.slow_callbacks = Counter(
            "bot_event_loop_slow_callbacks", "Times the event loop was held SLOW_CALLBACK_MS or "
            "longer (bot/observability/stalls.py)", registry=r,
        )  # fmt: skip

        self.gc_pause_seconds = Histogram(
            "bot_gc_pause_seconds", "How long each garbage collection held the event loop, by "
            "generation (bot/observability/gcpause.py)", ["generation"],
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
