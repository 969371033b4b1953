"""One local-engine connection: client events in, Voice Live server events out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from bot.localengine import events
from bot.localengine.events import Event, InvalidRequest
from bot.localengine.failures import FailurePlan
from bot.localengine.responder import Responder
from bot.localengine.script import Interviewer, Script, Turn, quoted_line
from bot.localengine.vad import InputDecoder, SpeechStarted, SpeechStopped, TurnDetector

log = structlog.get_logger(__name__)

NO_TRANSCRIPT = "(local engine does not transcribe)"
MIN_COMMIT_MS = 100
# turn_detection.speech_duration_ms: "If not set or under 80 ms, the detector uses a default
# value of 80 ms" (Microsoft's Voice Live how-to page).
MIN_SPEECH_DURATION_MS = 80


class EngineSession:
    """The state of one conversation: settings, items, input audio, turn detection, responses."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        model: str,
        speed: float,
        failures: FailurePlan | None = None,
    ) -> None:
        self._send_text = send
        self._model = model
        self.session = events.default_session(model)
        self._items: list[str] = []
        self._interviewer = Interviewer(Script.from_instructions(""))
        self._script_source: str | None = None
        self._decoder = InputDecoder("pcm16", 24000)
        self._detector: TurnDetector | None = None
        self._detection_source: Any = None
        self._detector_offset_ms = 0.0
        self._audio_ms = 0.0  # all input appended since the session started
        self._buffer_start_ms = 0.0  # start of the uncommitted input buffer
        self._user_item_id: str | None = None
        self._committed_audio_ms = 0.0
        failures = failures if failures is not None else FailurePlan()
        self._responder = Responder(self.send, self._add_item, speed=speed, failures=failures)
        self._configure_input()
        self._handlers: dict[str, Callable[[Event], Awaitable[None]]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit_event,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.truncate": self._truncate,
            "conversation.item.delete": self._delete,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }

    async def send(self, event: Event) -> None:
        """Send one server event (with an event_id)."""
        await self._send_text(json.dumps({"event_id": events.new_id("event"), **event}))

    async def open(self) -> None:
        """Greet the client with session.created."""
        await self.send({"type": "session.created", "session": self.session})

    async def close(self) -> None:
        """Stop any response in flight (the socket is gone)."""
        await self._responder.close()

    async def handle(self, message: str | bytes) -> None:
        """Dispatch one client message; bad input becomes an `error` event, never an exception."""
        event_id = None
        try:
            if isinstance(message, bytes):
                raise InvalidRequest("binary frames are not supported", code="invalid_event")
            try:
                event = json.loads(message)
            except ValueError:
                raise InvalidRequest("the message is not valid JSON", code="invalid_json") from None
            if not isinstance(event, dict):
                raise InvalidRequest("an event must be a JSON object", code="invalid_event")
            event_id = event.get("event_id")
            handler = self._handlers.get(event.get("type"))  # type: ignore[arg-type]
            if handler is None:
                raise InvalidRequest(
                    f"unknown event type {event.get('type')!r}", code="invalid_event", param="type"
                )
            await handler(event)
        except InvalidRequest as exc:
            log.info("localengine.refused", code=exc.code, message=str(exc))
            error = events.error(str(exc), code=exc.code, param=exc.param, event_id=event_id)
            await self.send(error)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a malformed field
            log.warning("localengine.bad_event", error=repr(exc))
            error = events.error(
                f"malformed event: {exc!r}", code="invalid_value", event_id=event_id
            )
            await self.send(error)

    # -- settings ---------------------------------------------------------------------------

    def _configure_input(self) -> None:
        session = self.session
        fmt, rate = session["input_audio_format"], session["input_audio_sampling_rate"]
        if (fmt, rate) != (self._decoder.audio_format, self._decoder.sample_rate):
            self._decoder = InputDecoder(fmt, rate)
        detection = session.get("turn_detection")
        if detection != self._detection_source:
            self._detection_source = detection
            self._detector = None
            if detection is not None:
                self._detector = TurnDetector(
                    threshold=float(detection["threshold"]),
                    prefix_padding_ms=int(detection["prefix_padding_ms"]),
                    silence_duration_ms=int(detection["silence_duration_ms"]),
                    speech_duration_ms=max(
                        MIN_SPEECH_DURATION_MS, int(detection.get("speech_duration_ms") or 0)
                    ),
                )
                self._detector_offset_ms = self._audio_ms
        instructions = session.get("instructions") or ""
        if instructions != self._script_source:
            step = self._interviewer.step
            self._interviewer = Interviewer(Script.from_instructions(instructions))
            self._interviewer.step = step
            self._script_source = instructions

    async def _session_update(self, event: Event) -> None:
        events.check_for_model(event.get("session"), self._model)  # refuses the whole update
        self.session = events.merge_session(self.session, event.get("session"))
        self._configure_input()
        script = self._interviewer.script
        log.info(
            "localengine.session_updated",
            questions=len(script.questions),
            input=self.session["input_audio_format"],
            output=self.session["output_audio_format"],
            vad=bool(self.session.get("turn_detection")),
        )
        await self.send({"type": "session.updated", "session": self.session})

    # -- input audio and turn detection -------------------------------------------------------

    async def _append(self, event: Event) -> None:
        try:
            data = base64.b64decode(event.get("audio") or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("audio must be base64", param="audio") from None
        self._audio_ms += self._decoder.bytes_to_ms(len(data))
        samples = self._decoder.decode(data)
        if self._detector is None:
            return
        # remove_filler_words: the service ignores fillers "when there's an ongoing response"
        detection = self.session.get("turn_detection") or {}
        ongoing = self._responder.ongoing()
        self._detector.ignore_fillers = bool(detection.get("remove_filler_words")) and ongoing
        for vad_event in self._detector.feed(samples):
            offset = self._detector_offset_ms
            if isinstance(vad_event, SpeechStarted):
                await self._speech_started(int(offset + vad_event.audio_start_ms))
            elif isinstance(vad_event, SpeechStopped):
                await self._speech_stopped(int(offset + vad_event.audio_end_ms))

    async def _speech_started(self, start_ms: int) -> None:
        self._user_item_id = events.new_id("item")
        self._buffer_start_ms = start_ms
        await self.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start_ms,
                "item_id": self._user_item_id,
            }
        )
        detection = self.session.get("turn_detection") or {}
        if detection.get("interrupt_response", True) and self._responder.active() is not None:
            await self._responder.cancel("turn_detected")

    async def _speech_stopped(self, end_ms: int) -> None:
        item_id = self._user_item_id or events.new_id("item")
        stopped = "input_audio_buffer.speech_stopped"
        await self.send({"type": stopped, "audio_end_ms": end_ms, "item_id": item_id})
        await self._commit(item_id, end_ms)
        detection = self.session.get("turn_detection") or {}
        if detection.get("create_response", True):
            if self._responder.active() is None:
                await self._start_response()
            else:
                log.info("localengine.response_skipped", reason="a response is active")

    async def _commit(self, item_id: str, end_ms: float) -> None:
        self._committed_audio_ms += max(0.0, end_ms - self._buffer_start_ms)
        self._buffer_start_ms = end_ms
        self._user_item_id = None
        previous = self._items[-1] if self._items else None
        committed = "input_audio_buffer.committed"
        await self.send({"type": committed, "previous_item_id": previous, "item_id": item_id})
        content = [{"type": "input_audio", "transcript": None}]
        item = events.message_item(item_id, "user", content, "completed")
        self._items.append(item_id)
        await self.send(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": NO_TRANSCRIPT,
            }
        )

    async def _commit_event(self, event: Event) -> None:
        if self._audio_ms - self._buffer_start_ms < MIN_COMMIT_MS:
            raise InvalidRequest(
                "buffer too small: at least 100 ms of audio is needed to commit",
                code="input_audio_buffer_commit_empty",
            )
        await self._commit(self._user_item_id or events.new_id("item"), self._audio_ms)

    async def _clear(self, event: Event) -> None:
        self._buffer_start_ms = self._audio_ms
        self._user_item_id = None
        await self.send({"type": "input_audio_buffer.cleared"})

    # -- conversation items -------------------------------------------------------------------

    async def _item_create(self, event: Event) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            raise InvalidRequest("item must be an object", param="item")
        kind = item.get("type")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system"):
                raise InvalidRequest(f"unknown role {role!r}", param="item.role")
            if role == "assistant":
                self._interviewer.replayed(events.message_text(item))
            elif role == "system":
                self._interviewer.key_message(events.message_text(item))
        elif kind == "function_call_output":
            if not item.get("call_id"):
                raise InvalidRequest("call_id is required", param="item.call_id")
            log.info("localengine.function_output", output=str(item.get("output", ""))[:200])
        elif kind != "function_call":
            raise InvalidRequest(f"unknown item type {kind!r}", param="item.type")
        item = {"object": "realtime.item", **item}
        if kind == "message":  # function_call_output items have no status (the SDK's model)
            item.setdefault("status", "completed")
        item.setdefault("id", events.new_id("item"))
        previous = self._items[-1] if self._items else None
        self._items.append(item["id"])
        await self.send(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )

    async def _truncate(self, event: Event) -> None:
        item_id = event.get("item_id")
        if item_id not in self._items:
            raise InvalidRequest(f"no item {item_id!r}", code="item_not_found", param="item_id")
        audio_end_ms = event.get("audio_end_ms")
        if not isinstance(audio_end_ms, int) or audio_end_ms < 0:
            raise InvalidRequest("audio_end_ms must be a whole number", param="audio_end_ms")
        response = self._responder.spoken.get(item_id)
        if response is not None:
            if audio_end_ms > response.audio_ms_sent + 1:
                raise InvalidRequest(
                    "audio_end_ms is beyond the audio sent so far", param="audio_end_ms"
                )
        content_index = event.get("content_index", 0)
        if response is not None:
            self._responder.cut()
        log.info("localengine.truncated", item_id=item_id, audio_end_ms=audio_end_ms)
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    async def _delete(self, event: Event) -> None:
        item_id = event.get("item_id")
        if item_id not in self._items:
            raise InvalidRequest(f"no item {item_id!r}", code="item_not_found", param="item_id")
        self._items.remove(item_id)
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    def _add_item(self, item: Event) -> str | None:
        previous = self._items[-1] if self._items else None
        self._items.append(item["id"])
        return previous

    # -- responses ----------------------------------------------------------------------------

    async def _response_create(self, event: Event) -> None:
        options: Any = event.get("response") or {}
        if not isinstance(options, dict):
            raise InvalidRequest("response must be an object", param="response")
        exact = events.pre_generated_text(options)
        active = self._responder.active()
        if active is not None:
            # cancel_previous (default true) cancels the active response; false refuses this one
            if options.get("cancel_previous", True) is False:
                raise InvalidRequest(
                    f"Conversation already has an active response in progress: {active.id}",
                    code="conversation_already_has_active_response",
                )
            await self._responder.cancel("client_cancelled")
        turn = None
        if exact is not None:  # said word for word with the session's voice, no inference
            log.info("localengine.pre_generated", chars=len(exact))
            self._interviewer.pre_generated(exact)
            turn = Turn(exact, final=False)
        elif options.get("instructions"):
            line = quoted_line(str(options["instructions"]))
            log.info("localengine.response_instructions", chars=len(options["instructions"]),
                     says=line)  # fmt: skip
            if line is not None:  # "say exactly this": the scripted engine can do that much
                turn = Turn(line, final=True)
        await self._start_response(turn)

    async def _start_response(self, turn: Turn | None = None) -> None:
        """A response saying `turn`, else the script's next turn (the responder decides)."""
        await self._responder.start(
            turn, self._interviewer.next_turn, self.session, self._committed_audio_ms
        )

    async def _response_cancel(self, event: Event) -> None:
        wanted = event.get("response_id")
        active = self._responder.active()
        if active is None or (wanted and wanted != active.id):
            raise InvalidRequest(
                "Cancellation failed: no active response found", code="response_cancel_not_active"
            )
        await self._responder.cancel("client_cancelled")
