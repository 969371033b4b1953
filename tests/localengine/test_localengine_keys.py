"""The local engine honours the bot's key messages: `Key *:` repeats, `Key #:` skips."""

from __future__ import annotations

from typing import Any

from bot.interview.keys import REPEAT, SKIP
from bot.localengine import LocalEngine
from bot.localengine.script import Interviewer, Script
from tests.localengine.test_localengine import INSTRUCTIONS, Peer, open_peer


def test_interviewer_repeats_and_skips_on_key_messages() -> None:
    turns = Interviewer(Script.from_instructions(INSTRUCTIONS))
    assert turns.next_turn().text.endswith("What is your name?")
    assert turns.key_message(REPEAT.message)
    assert turns.next_turn().text == "Of course. What is your name?"
    assert turns.key_message(SKIP.message)
    assert turns.next_turn().text == "Okay, let's move on. Where do you live?"
    assert not turns.key_message("The candidate has five minutes left.")
    closing = turns.next_turn()
    assert closing.final and "Thanks, goodbye." in closing.text


async def say(peer: Peer) -> str:
    await peer.send("response.create")
    events = await peer.until("response.done")
    return next(e for e in events if e["type"] == "response.audio_transcript.done")["transcript"]


async def system(peer: Peer, text: str) -> dict[str, Any]:
    item = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]}
    await peer.send("conversation.item.create", item=item)
    return (await peer.until("conversation.item.created"))[-1]


async def test_the_engine_repeats_and_skips_over_its_socket() -> None:
    engine = LocalEngine(speed=20.0)
    endpoint = await engine.start()
    try:
        peer = await open_peer(endpoint.replace("http://", "ws://"))
        assert (await say(peer)).endswith("What is your name?")
        await system(peer, REPEAT.message)
        assert await say(peer) == "Of course. What is your name?"
        await system(peer, SKIP.message)
        assert await say(peer) == "Okay, let's move on. Where do you live?"
        await peer.ws.close()
    finally:
        await engine.stop()


def test_a_replayed_greeting_said_word_for_word_is_not_a_step() -> None:
    script = Script.from_instructions(INSTRUCTIONS)
    turns = Interviewer(script)
    turns.replayed(script.greeting)  # a new session gets the greeting as text
    assert script.questions[0] in turns.next_turn().text  # question 1 comes next, not 2
    turns.replayed("Thank you. Something else.")  # any other line is a step done
    assert turns.next_turn().final  # both questions counted: the goodbye comes
