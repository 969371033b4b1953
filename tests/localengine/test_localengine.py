"""The local engine over a real WebSocket, driven as docs/voice-live.md describes the service."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from bot.localengine import LocalEngine, audio, tts
from bot.localengine.script import DEFAULT_GREETING, Interviewer, Script
from bot.localengine.vad import SpeechStarted, SpeechStopped, TurnDetector

INSTRUCTIONS = """You are a friendly interviewer.
Greeting: Hi, this is the test line.
Ask these questions in order:
1. What is your name?
2) Where do you live?
Closing: Thanks, goodbye.
"""
END_TOOL = {"type": "function", "name": "end_interview", "parameters": {"type": "object"}}
QUERY = "/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"
TURN_TYPES = [
    "response.created",
    "response.output_item.added",
    "conversation.item.created",
    "response.content_part.added",
    "response.audio.done",
    "response.audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]


@pytest.fixture
async def engine() -> AsyncIterator[tuple[LocalEngine, str]]:
    local = LocalEngine(speed=20.0)
    endpoint = await local.start()
    yield local, endpoint.replace("http://", "ws://")
    await local.stop()


class Peer:
    """A test client: send events, read until a type arrives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, kind: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": kind, **fields}))

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """Every event up to and including the next one of this type (10 s at most)."""
        got: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while True:
                event = json.loads(await self.ws.recv())
                got.append(event)
                self.seen.append(event)
                if event["type"] == kind:
                    return got

    async def append(self, samples: np.ndarray, chunk_ms: int = 20) -> None:
        step = 8 * chunk_ms
        for start in range(0, samples.size, step):
            payload = audio.ulaw_encode(samples[start : start + step])
            await self.send("input_audio_buffer.append", audio=base64.b64encode(payload).decode())


async def open_peer(url: str, **session: Any) -> Peer:
    ws = await connect(url + QUERY)
    peer = Peer(ws)
    created = await peer.until("session.created")
    assert created[-1]["session"]["id"].startswith("sess_")
    config = {
        "instructions": INSTRUCTIONS,
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "g711_ulaw",
        "tools": [END_TOOL],
        "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
        **session,
    }
    await peer.send("session.update", session=config)
    updated = (await peer.until("session.updated"))[-1]["session"]
    assert updated["output_audio_format"] == config["output_audio_format"]
    return peer


def speech(text: str) -> np.ndarray:
    return audio.trim_silence(tts.synthesize(text, 8000), 8000)


def silence(ms: int) -> np.ndarray:
    return np.zeros(8 * ms, np.int16)


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events if not e["type"].endswith(".delta")]


def spoken(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta"
    )


async def test_refuses_wrong_path_missing_version_and_bad_key() -> None:
    local = LocalEngine(api_key="secret")
    url = (await local.start()).replace("http://", "ws://")
    try:
        for path, headers, status in [
            ("/nope" + QUERY[len("/voice-live/realtime") :], {"api-key": "secret"}, 404),
            ("/voice-live/realtime?model=gpt-realtime", {"api-key": "secret"}, 400),
            (QUERY, {"api-key": "wrong"}, 401),
            (QUERY, {}, 401),
        ]:
            with pytest.raises(InvalidStatus) as info:
                await connect(url + path, additional_headers=headers)
            assert info.value.response.status_code == status
        async with connect(url + QUERY, additional_headers={"api-key": "secret"}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
    finally:
        await local.stop()


async def test_greeting_turn_in_voice_live_order(engine: tuple[LocalEngine, str]) -> None:
    peer = await open_peer(engine[1])
    await peer.send("response.create", response={"instructions": "Greet the caller."})
    events = await peer.until("response.done")
    assert kinds(events) == TURN_TYPES
    deltas = [e for e in events if e["type"] == "response.audio.delta"]
    assert all(len(base64.b64decode(d["delta"])) <= 800 for d in deltas)  # 100 ms of μ-law
    assert len(spoken(events)) > 8000  # over a second of speech
    transcript = next(e for e in events if e["type"] == "response.audio_transcript.done")
    assert transcript["transcript"] == "Hi, this is the test line. What is your name?"
    text = "".join(e["delta"] for e in events if e["type"] == "response.audio_transcript.delta")
    assert text == transcript["transcript"]
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["usage"]["output_token_details"]["audio_tokens"] > 0
    assert [item["type"] for item in done["output"]] == ["message"]
    await peer.ws.close()


async def test_pcm16_output_is_24khz(engine: tuple[LocalEngine, str]) -> None:
    peer = await open_peer(engine[1], output_audio_format="pcm16")
    await peer.send("response.create")
    events = await peer.until("response.done")
    sizes = [len(base64.b64decode(e["delta"])) for e in events if "audio.delta" in e["type"]]
    assert sizes[0] == 4800  # 100 ms at 24 kHz, 16-bit
    await peer.ws.close()


async def test_interview_turns_vad_and_end_call(engine: tuple[LocalEngine, str]) -> None:
    peer = await open_peer(engine[1])
    await peer.send("response.create")
    await peer.until("response.done")
    answer = speech("My name is Alice.")
    await peer.append(np.concatenate([silence(1000), answer, silence(800)]))
    events = await peer.until("response.done")
    started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
    # speech begins at 1000 ms; start = onset - 300 ms padding; end = speech end + 500 ms silence
    assert 640 <= started["audio_start_ms"] <= 800
    speech_end = 1000 + answer.size / 8
    assert speech_end + 400 <= stopped["audio_end_ms"] <= speech_end + 700
    assert started["item_id"] == stopped["item_id"]
    order = kinds(events)
    assert order[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
        "conversation.item.input_audio_transcription.completed",
    ]
    transcription = events[order.index("conversation.item.input_audio_transcription.completed")]
    assert "does not transcribe" in transcription["transcript"]
    said = next(e for e in events if e["type"] == "response.audio_transcript.done")
    assert said["transcript"] == "Thank you. Where do you live?"

    await peer.append(np.concatenate([speech("In Paris."), silence(800)]))
    events = await peer.until("response.done")
    said = next(e for e in events if e["type"] == "response.audio_transcript.done")
    assert said["transcript"] == "Thanks, goodbye."
    tail = kinds(events)[kinds(events).index("response.output_item.done") :]
    assert tail == [
        "response.output_item.done",
        "response.output_item.added",
        "conversation.item.created",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.done",
    ]
    added = next(e for e in events if e.get("item", {}).get("type") == "function_call")
    assert added["item"]["name"] == "end_interview" and added["item"]["arguments"] == ""
    assert added["item"]["call_id"].startswith("call_")
    call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert "name" not in call and call["arguments"] == "{}"  # as the API reference shows it
    assert call["output_index"] == 1 and call["call_id"] == added["item"]["call_id"]
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "function_call"]
    await peer.send(
        "conversation.item.create",
        item={"type": "function_call_output", "call_id": call["call_id"], "output": "{}"},
    )
    created = (await peer.until("conversation.item.created"))[-1]
    assert created["item"]["type"] == "function_call_output"
    await peer.ws.close()


async def test_goodbye_without_the_tool_is_audio_only(engine: tuple[LocalEngine, str]) -> None:
    peer = await open_peer(engine[1], tools=[], instructions="No questions here.")
    await peer.send("response.create")
    events = await peer.until("response.done")
    said = next(e for e in events if e["type"] == "response.audio_transcript.done")
    assert said["transcript"].startswith(DEFAULT_GREETING)
    assert [item["type"] for item in events[-1]["response"]["output"]] == ["message"]
    await peer.ws.close()


async def test_barge_in_cancels_the_response() -> None:
    local = LocalEngine(speed=1.0)  # real time, so the greeting is still streaming
    url = (await local.start()).replace("http://", "ws://")
    try:
        peer = await open_peer(url)
        await peer.send("response.create")
        await peer.until("response.audio.delta")
        await peer.append(np.concatenate([speech("Actually, hold on."), silence(800)]))
        events = await peer.until("response.done")
        order = kinds(events)
        started = order.index("input_audio_buffer.speech_started")
        after = [e["type"] for e in events[started:]]
        assert "response.audio.delta" not in after
        assert after[1:] == [
            "response.audio.done",
            "response.audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.done",
        ]
        done = events[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        assert done["output"][0]["status"] == "incomplete"
        item_id = done["output"][0]["id"]
        await peer.send(
            "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=80
        )
        truncated = (await peer.until("conversation.item.truncated"))[-1]
        assert truncated["item_id"] == item_id and truncated["audio_end_ms"] == 80
        # the caller's turn then gets the next question
        events = await peer.until("response.done")
        assert events[-1]["response"]["status"] in ("completed", "in_progress", "cancelled")
        await peer.ws.close()
    finally:
        await local.stop()


@pytest.mark.contract_exempt("sends garbage, unknown and ill-typed events on purpose")
async def test_cancel_and_errors_keep_the_session_open() -> None:
    local = LocalEngine(speed=1.0)
    url = (await local.start()).replace("http://", "ws://")
    try:
        peer = await open_peer(url)
        await peer.send("response.cancel")
        error = (await peer.until("error"))[-1]["error"]
        assert error["code"] == "response_cancel_not_active"
        await peer.send("response.create")
        await peer.until("response.audio.delta")
        await peer.send("response.create", event_id="evt_2", response={"cancel_previous": False})
        refused = (await peer.until("error"))[-1]["error"]
        assert refused["code"] == "conversation_already_has_active_response"
        assert refused["event_id"] == "evt_2"
        await peer.send("response.cancel")
        done = (await peer.until("response.done"))[-1]["response"]
        assert done["status_details"]["reason"] == "client_cancelled"
        await peer.ws.send("not json")
        assert (await peer.until("error"))[-1]["error"]["code"] == "invalid_json"
        await peer.send("made.up.event")
        assert (await peer.until("error"))[-1]["error"]["code"] == "invalid_event"
        await peer.send("session.update", session={"output_audio_format": "mp3"})
        assert (await peer.until("error"))[-1]["error"]["param"] == "session.output_audio_format"
        bad = {"type": "server_vad", "threshold": "high"}
        await peer.send("session.update", session={"turn_detection": bad})
        assert (await peer.until("error"))[-1]["error"]["param"] == (
            "session.turn_detection.threshold"
        )
        await peer.send("conversation.item.truncate", item_id="item_x", audio_end_ms=5)
        assert (await peer.until("error"))[-1]["error"]["code"] == "item_not_found"
        await peer.send("input_audio_buffer.commit")
        assert (await peer.until("error"))[-1]["error"]["code"] == (
            "input_audio_buffer_commit_empty"
        )
        for role in ("system", "user", "assistant"):
            item = {
                "type": "message",
                "role": role,
                "content": [{"type": "input_text", "text": "hi"}],
            }
            await peer.send("conversation.item.create", item=item)
            created = (await peer.until("conversation.item.created"))[-1]["item"]
            assert created["role"] == role
        # the cancelled greeting and the replayed assistant item each took a step of the script
        await peer.send("response.create")
        said = await peer.until("response.audio_transcript.done")
        assert said[-1]["transcript"] == "Thanks, goodbye."
        await peer.ws.close()
    finally:
        await local.stop()


async def test_manual_commit_without_turn_detection(engine: tuple[LocalEngine, str]) -> None:
    peer = await open_peer(engine[1], turn_detection=None)
    await peer.append(np.concatenate([speech("Hello there."), silence(300)]))
    await peer.send("input_audio_buffer.commit")
    events = await peer.until("conversation.item.created")
    assert "input_audio_buffer.speech_started" not in kinds(events)
    assert kinds(events)[0] == "input_audio_buffer.committed"
    await peer.ws.close()


async def test_nothing_is_fetched_from_the_network(
    engine: tuple[LocalEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = socket.socket.connect

    def loopback_only(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        assert host.startswith("127.") or host in ("::1", "localhost"), f"network use: {address}"
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    tts._engine = None  # load the speech engine again, under the guard
    peer = await open_peer(engine[1])
    await peer.send("response.create")
    assert len(spoken(await peer.until("response.done"))) > 0
    await peer.ws.close()


def test_script_from_instructions() -> None:
    script = Script.from_instructions(INSTRUCTIONS)
    assert script.greeting == "Hi, this is the test line."
    assert script.questions == ("What is your name?", "Where do you live?")
    assert script.closing == "Thanks, goodbye."
    turns = Interviewer(script)
    said = [turns.next_turn() for _ in range(4)]
    assert [t.final for t in said] == [False, False, True, True]
    assert said[1].text == "Thank you. Where do you live?"


def test_turn_detector_on_speech() -> None:
    detector = TurnDetector(prefix_padding_ms=0, silence_duration_ms=400)
    answer = speech("Hello, my name is Alice.")
    events = detector.feed(np.concatenate([silence(500), answer, silence(600)]))
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]
    assert 480 <= events[0].audio_start_ms <= 560  # onset within 60 ms of the first sound
    end = 500 + answer.size / 8
    assert end + 300 <= events[1].audio_end_ms <= end + 540  # 20 ms frames
    assert detector.feed(silence(2000)) == []


def test_ulaw_round_trip_and_resampling() -> None:
    tone = (8000 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000)).astype(np.int16)
    decoded = audio.ulaw_decode(audio.ulaw_encode(tone))
    assert np.max(np.abs(decoded.astype(int) - tone)) < 300
    assert audio.ulaw_encode(np.zeros(4, np.int16)) == b"\xff" * 4
    up = audio.resample(tone, 8000, 24000)
    assert up.size == 24000 and abs(int(np.abs(up).max()) - 8000) < 200


async def test_turn_detection_without_auto_response_or_interruption() -> None:
    local = LocalEngine(speed=1.0)
    url = (await local.start()).replace("http://", "ws://")
    try:
        detection = {"type": "server_vad", "create_response": False, "interrupt_response": False}
        peer = await open_peer(url, turn_detection=detection)
        await peer.send("response.create")
        await peer.until("response.audio.delta")
        await peer.append(np.concatenate([speech("Hold on please."), silence(700)]))
        events = await peer.until("response.done")  # the greeting runs to its end
        assert events[-1]["response"]["status"] == "completed"
        order = kinds(events)
        assert "input_audio_buffer.committed" in order
        assert order.index("input_audio_buffer.speech_started") < order.index("response.done")
        await peer.send("input_audio_buffer.clear")  # nothing more comes by itself
        assert kinds(await peer.until("input_audio_buffer.cleared")) == [
            "input_audio_buffer.cleared"
        ]
        await peer.ws.close()
    finally:
        await local.stop()


# ---- behaviours from the corrected Voice Live reference ------------------------------------


async def raw_peer(url: str, model: str = "gpt-realtime") -> Peer:
    ws = await connect(url + QUERY.replace("model=gpt-realtime", f"model={model}"))
    peer = Peer(ws)
    await peer.until("session.created")
    return peer


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-realtime-mini"])
async def test_openai_realtime_models_refuse_azure_speech_and_the_whole_update(
    engine: tuple[LocalEngine, str], model: str
) -> None:
    peer = await raw_peer(engine[1], model)
    update = {
        "output_audio_format": "g711_ulaw",
        "input_audio_transcription": {"model": "azure-speech", "language": "en-US"},
    }
    await peer.send("session.update", event_id="evt_cfg", session=update)
    answer = await peer.until("error")
    assert [e["type"] for e in answer] == ["error"]
    error = answer[-1]["error"]
    assert error["param"] == "session.input_audio_transcription.model"
    assert error["event_id"] == "evt_cfg" and error["code"] == "invalid_value"
    assert "azure-speech" in error["message"] and model in error["message"]
    await peer.send("response.create")  # the update did not apply: output is still pcm16
    events = await peer.until("response.done")
    assert (
        len(base64.b64decode(next(e for e in events if "audio.delta" in e["type"])["delta"]))
        == 4800
    )
    update["input_audio_transcription"] = {"model": "gpt-4o-transcribe", "language": "en"}
    await peer.send("session.update", session=update)
    updated = (await peer.until("session.updated"))[-1]["session"]
    assert updated["input_audio_transcription"]["model"] == "gpt-4o-transcribe"
    eou = {"model": "semantic_detection_v1", "threshold_level": "default", "timeout_ms": 1000}
    detection = {"type": "azure_semantic_vad", "end_of_utterance_detection": eou}
    await peer.send("session.update", event_id="evt_eou", session={"turn_detection": detection})
    error = (await peer.until("error"))[-1]["error"]
    assert error["param"] == "session.turn_detection.end_of_utterance_detection"
    assert error["event_id"] == "evt_eou"
    await peer.ws.close()


async def test_other_models_take_azure_speech_only(engine: tuple[LocalEngine, str]) -> None:
    peer = await raw_peer(engine[1], "gpt-4.1")
    await peer.send("session.update", session={"input_audio_transcription": {"model": "whisper-1"}})
    assert (await peer.until("error"))[-1]["error"]["param"] == (
        "session.input_audio_transcription.model"
    )
    eou = {"model": "semantic_detection_v1"}
    update = {
        "input_audio_transcription": {"model": "azure-speech", "language": "en-US"},
        "turn_detection": {"type": "azure_semantic_vad", "end_of_utterance_detection": eou},
    }
    await peer.send("session.update", session=update)
    updated = (await peer.until("session.updated"))[-1]["session"]
    assert updated["input_audio_transcription"]["model"] == "azure-speech"
    await peer.ws.close()


async def test_cached_tokens_with_and_without_details(engine: tuple[LocalEngine, str]) -> None:
    peer = await open_peer(engine[1])
    usages = []
    for _ in range(3):
        await peer.send("response.create")
        usages.append((await peer.until("response.done"))[-1]["response"]["usage"])
    details = [u["input_token_details"] for u in usages]
    assert details[0]["cached_tokens"] == 0 and "cached_tokens_details" in details[0]
    assert set(details[1]) == {"text_tokens", "audio_tokens", "cached_tokens"}  # no details
    assert 0 < details[1]["cached_tokens"] <= usages[1]["input_tokens"]
    assert sum(details[2]["cached_tokens_details"].values()) == details[2]["cached_tokens"] > 0
    await peer.ws.close()


async def test_failed_responses_on_demand() -> None:
    local = LocalEngine(speed=20.0, fail_responses=1, fail_every=4)
    url = (await local.start()).replace("http://", "ws://")
    try:
        peer = await open_peer(url)
        await peer.send("response.create")
        events = await peer.until("response.done")
        assert [e["type"] for e in events] == ["response.created", "response.done"]
        done = events[-1]["response"]
        assert done["status"] == "failed" and done["output"] == []
        assert done["status_details"]["type"] == "failed"
        assert done["status_details"]["error"]["code"] == "rate_limit_exceeded"
        assert done["status_details"]["error"]["type"] == "rate_limit_error"
        assert done["usage"]["output_tokens"] == 0
        # asked again, the script has not moved on: the greeting comes now
        await peer.send("response.create")
        said = await peer.until("response.audio_transcript.done")
        assert said[-1]["transcript"] == "Hi, this is the test line. What is your name?"
        await peer.until("response.done")
        await peer.send("response.create")
        await peer.until("response.done")
        await peer.send("response.create")  # the 4th response of the engine
        assert (await peer.until("response.done"))[-1]["response"]["status"] == "failed"
        local.failures.add(1, code="server_error", error_type="server_error", message="Oops")
        await peer.send("response.create")
        error = (await peer.until("response.done"))[-1]["response"]["status_details"]["error"]
        assert error == {"type": "server_error", "code": "server_error", "message": "Oops"}
        assert local.failed_responses == 3
        await peer.ws.close()
    finally:
        await local.stop()


def test_local_engine_command_takes_failure_options() -> None:
    from bot.__main__ import build_parser

    args = build_parser().parse_args(["local-engine", "--fail-responses", "2", "--fail-every", "5"])
    assert (args.fail_responses, args.fail_every) == (2, 5)


@pytest.mark.contract_exempt("a malformed pre_generated_assistant_message on purpose")
async def test_pre_generated_message_is_spoken_word_for_word(
    engine: tuple[LocalEngine, str],
) -> None:
    peer = await open_peer(engine[1])
    text = "Hi, this is the test line.  Sorry,   one moment please!\n(Really.)"
    message = {"content": [{"type": "text", "text": text}]}
    await peer.send("response.create", response={"pre_generated_assistant_message": message})
    events = await peer.until("response.done")
    deltas = [e["delta"] for e in events if e["type"] == "response.audio_transcript.delta"]
    assert "".join(deltas) == text
    done = next(e for e in events if e["type"] == "response.audio_transcript.done")
    assert done["transcript"] == text
    assert len(spoken(events)) > 8 * 2000  # over two seconds of μ-law speech
    output = events[-1]["response"]["output"]
    assert [(o["type"], o["role"]) for o in output] == [("message", "assistant")]
    assert output[0]["content"][0]["transcript"] == text
    # the greeting was said word for word: the script's first turn only asks question 1
    await peer.send("response.create")
    said = await peer.until("response.audio_transcript.done")
    assert said[-1]["transcript"] == "What is your name?"
    await peer.until("response.done")
    bad = {"pre_generated_assistant_message": {"content": "Hello"}}
    await peer.send("response.create", event_id="evt_bad", response=bad)
    error = (await peer.until("error"))[-1]["error"]
    assert error["event_id"] == "evt_bad"
    assert error["param"] == "response.pre_generated_assistant_message"
    await peer.ws.close()


async def test_response_create_while_active_cancels_it_by_default() -> None:
    local = LocalEngine(speed=1.0)
    url = (await local.start()).replace("http://", "ws://")
    try:
        peer = await open_peer(url)
        await peer.send("response.create")
        await peer.until("response.audio.delta")
        message = {"content": [{"type": "text", "text": "One moment."}]}
        await peer.send("response.create", response={"pre_generated_assistant_message": message})
        first = (await peer.until("response.done"))[-1]["response"]
        assert first["status"] == "cancelled"
        assert first["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        events = await peer.until("response.done")
        assert events[0]["type"] == "response.created" and "error" not in kinds(events)
        assert events[-1]["response"]["status"] == "completed"
        said = next(e for e in events if e["type"] == "response.audio_transcript.done")
        assert said["transcript"] == "One moment."
        await peer.ws.close()
    finally:
        await local.stop()
