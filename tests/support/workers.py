"""Parallel runs (pytest-xdist): each worker gets a PostgreSQL database of its own on
TEST_DATABASE_URL's server, created when the worker starts and dropped when it ends, and the
slowest tests are handed out first so that no worker is left with a long tail."""

from __future__ import annotations

import asyncio
import os
import re
from urllib.parse import urlsplit

import pytest

# Tests taking 3 s or more (real time over real sockets), slowest first, by function name (so
# they keep their place when moved), from `pytest --durations=0`; refresh it when it drifts.
# Order only: a test missing here runs after these, a name matching nothing is ignored.
SLOWEST_FIRST: tuple[str, ...] = (
    "test_two_question_interview_ends_by_itself",
    "test_interview_goes_on_across_recycled_sessions",
    "test_barge_in_silences_the_bot_within_300_ms",
    "test_timed_interview_ends_itself_at_its_limit",
    "test_a_model_that_keeps_failing_ends_the_call_as_model_failed",
    "test_a_quiet_session_is_kept_and_a_long_answer_only_probed",
    "test_recycles_before_expiry_at_a_turn_boundary_while_the_caller_listens",
    "test_a_recycle_switches_while_the_caller_hears_the_bot_not_in_the_silence_after",
    "test_time_checks_at_turn_boundaries_then_wrap_up_then_the_closing_line",
    "test_a_number_pointing_elsewhere_is_fixed_by_fix_twilio",
    "test_a_drop_while_the_closing_line_plays_leaves_the_new_session_without_turns",
    "test_a_session_stalling_while_the_caller_speaks_is_replaced_and_hears_all_of_it",
    "test_session_expired_mid_interview_reconnects_replays_history_and_keeps_audio",
    "test_drain_timeout_wraps_up_with_a_closing_line",
    "test_killed_between_dial_and_storing_the_call_sid",
    "test_barging_in_over_the_closing_at_the_hard_limit_still_ends_the_call",
    "test_sigterm_mid_call_drains_and_exits_0",
    "test_unexpected_drop_reconnects_with_backoff",
    "test_words_the_old_session_transcribes_after_a_switch_go_to_the_new_one",
    "test_the_voicemail_message_is_read_from_twiml_dir",
    "test_every_turn_said_while_postgres_is_down_is_stored_once_in_order",
    "test_a_journal_is_replayed_at_start_up_after_a_restart",
    "test_killed_mid_call_the_record_is_marked_interrupted",
    "test_pound_skips_to_the_next_question_with_the_local_engine",
    "test_a_suspended_account_and_a_number_not_ours",
    "test_all_green_against_the_fakes",
    "test_one_trace_per_call_with_webhook_connect_and_turn_spans",
    "test_a_call_leaves_a_complete_record_and_metrics",
    "test_a_wrap_up_while_a_new_session_is_being_set_up_still_gets_its_closing_line",
    "test_a_session_stalling_mid_answer_is_replaced_and_the_answer_heard_again",
    "test_sessions_that_expire_with_no_turn_boundary_in_sight_are_replaced_each_time",
    "test_pacing_keeps_twilio_about_half_a_second_ahead_without_gaps",
    "test_two_dialers_200_due_interviews_each_dialed_exactly_once",
    "test_a_stuck_interview_is_swept_once_by_two_replicas",
    "test_time_limit_outlasts_the_longest_interview_and_its_wrap_up",
    "test_wav_caller_and_protocol_warnings",
    "test_end_interview_hangs_up_only_after_the_goodbyes_last_mark",
    "test_outbound_interview_uses_the_bridge_with_the_interviews_context",
    "test_a_call_ending_during_the_outage_is_journaled_and_replayed_when_it_returns",
    "test_unreachable_api_is_not_sent_and_slow_api_times_out",
    "test_a_failed_response_is_asked_again_and_the_caller_hears_audio_soon",
    "test_a_tool_call_from_a_cancelled_response_does_not_hang_up",
    "test_barge_in_clears_cancels_truncates_and_the_conversation_goes_on",
    "test_the_report_is_stored_when_the_call_ends_even_abnormally",
    "test_max_call_duration_caps_the_profile",
    "test_reconnects_give_up_after_the_budget",
    "test_twilio_vanishing_without_stop_ends_the_call_after_the_idle_timeout",
)


def worker_database_name(url: str, worker: str, run: str) -> str:
    """`test_gw0_1a2b3c4d` for database `test`, worker gw0 and run 1a2b3c4d...: unique per run,
    so two runs against one server (or a run and a crashed run's leftovers) never meet."""
    base = urlsplit(url).path.lstrip("/") or "test"
    name = re.sub(r"[^a-z0-9_]", "_", f"{base}_{worker}_{run[:8]}".lower())
    return name[:63]  # PostgreSQL's limit on identifiers


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def give_worker_its_database(config: pytest.Config) -> None:
    """In an xdist worker with TEST_DATABASE_URL set: point TEST_DATABASE_URL (read by every
    PostgreSQL test, and inherited by `bot serve` subprocesses) at a fresh database of the
    worker's own; drop it (ending any session left on it) when the worker ends."""
    workerinput = getattr(config, "workerinput", None)
    url = os.environ.get("TEST_DATABASE_URL")
    if workerinput is None or not url:
        return
    name = worker_database_name(url, workerinput["workerid"], workerinput["testrunuid"])
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    os.environ["TEST_DATABASE_URL"] = with_database(url, name)

    def drop() -> None:
        os.environ["TEST_DATABASE_URL"] = url
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    config.add_cleanup(drop)


def slowest_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, put SLOWEST_FIRST's tests first: with `--dist loadgroup` tests are
    handed out one by one in collection order, so the long ones start at once on different
    workers (longest first) and short ones fill the gaps. Every worker orders alike."""
    if getattr(config, "workerinput", None) is None:
        return
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}

    def key(item: pytest.Item) -> int:
        return rank.get(getattr(item, "originalname", item.name), len(rank))

    items.sort(key=key)
