"""The core's tool calls: record_assessment, end_interview, bad or unnamed calls (no I/O)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import structlog

from bot.call.limits import GOODBYE_GRACE_S
from bot.interview import tools
from bot.voicelive import events as vl

if TYPE_CHECKING:
    from bot.call.core import CallCore

log = structlog.get_logger("bot.call")

ENDING = '{"ok": false, "error": "the interview is ending"}'


def on_function_call(core: CallCore, event: vl.FunctionCall) -> None:
    """A function call's arguments are complete: carry it out, once per call_id. Its name
    comes from the function-call item (the reference's `.done` has none); if no item named it
    yet, it waits for the response's response.done, whose output names it."""
    if event.call_id in core.tools_answered:
        return
    name = event.name or core.tool_names.get(event.call_id, "")
    if not name:
        core.unnamed_calls[event.call_id] = event
        return
    core.tools_answered[event.call_id] = None
    if len(core.tools_answered) > 500:  # a long interview: forget the oldest
        del core.tools_answered[next(iter(core.tools_answered))]
    if event.response_id in core.turns.dropped:
        log.info("voicelive.tool_call_dropped", name=name)  # the caller cut it off
        return
    if core.turns.ending_now:
        # After end_interview (or at wrap-up) nothing new is asked for; the call still gets
        # its output so the conversation stays well-formed.
        core.to_model(vl.function_output(event.call_id, ENDING))
        return
    if name == "end_interview":
        try:
            why = json.loads(event.arguments or "{}").get("reason")
        except (ValueError, AttributeError):
            why = None
        core.to_model(vl.function_output(event.call_id, '{"ok": true}'))
        pending_s = core.end_after_playout(GOODBYE_GRACE_S)
        log.info("call.end_requested", reason=why, pending_playout_s=round(pending_s, 2))
        return
    output = tools.run_tool(core.profile, name, event.arguments, core)
    core.to_model(vl.function_output(event.call_id, output))
    core.turns.respond_when_done = True  # a new response may start only after this one is done


def run_unnamed_calls(core: CallCore, event: vl.ResponseDone) -> None:
    """response.done's output names every function call: carry out those whose `.done` came
    without a name, and any whose `.done` never came."""
    for call in event.calls:
        if call.call_id and call.name:
            core.tool_names[call.call_id] = call.name
    for call in event.calls:
        waiting = core.unnamed_calls.pop(call.call_id, None)
        if call.call_id in core.tools_answered:
            continue
        if waiting is None and event.status != "completed":
            continue  # cut off before its arguments were complete
        on_function_call(core, waiting or call)
    for call_id, waiting in list(core.unnamed_calls.items()):
        if waiting.response_id == event.response_id:  # never named: say so, do not guess
            del core.unnamed_calls[call_id]
            on_function_call(
                core, vl.FunctionCall(waiting.response_id, call_id, "?", waiting.arguments)
            )
