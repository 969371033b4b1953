"""The local engine's scripted interviewer: questions read from the session instructions."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_GREETING = "Hello, thank you for taking this call. I have a few short questions for you."
DEFAULT_CLOSING = "That was my last question. Thank you for your time, and goodbye."
ACKNOWLEDGEMENTS = ("Thank you.", "Got it, thanks.", "Great, thank you.", "Okay, noted.")
END_CALL_TOOL = "end_interview"

_QUESTION = re.compile(r"^\s*\d+[.)]\s+(.+)$")
_GREETING = re.compile(r"^\s*Greeting:\s*(.*)$", re.IGNORECASE)
_CLOSING = re.compile(r"^\s*Closing:\s*(.*)$", re.IGNORECASE)
# System messages the bot sends when the caller presses * (repeat) or # (skip).
_KEY = re.compile(r"^\s*Key ([*#]):")
_QUOTED = re.compile(r'"([^"]+)"\s*$')


def quoted_line(instructions: str) -> str | None:
    """A line to say word for word: response instructions that end in a "quoted line"."""
    match = _QUOTED.search(instructions.strip())
    return match.group(1).strip() if match else None


def _words(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Script:
    """What the interviewer says: a greeting, the questions in order, and a goodbye."""

    greeting: str
    questions: tuple[str, ...]
    closing: str

    @classmethod
    def from_instructions(cls, instructions: str) -> Script:
        """Numbered lines are the questions; optional "Greeting:" and "Closing:" lines."""
        greeting, closing, questions = DEFAULT_GREETING, DEFAULT_CLOSING, []
        for line in instructions.splitlines():
            if match := _GREETING.match(line):
                greeting = match.group(1).strip() or greeting
            elif match := _CLOSING.match(line):
                closing = match.group(1).strip() or closing
            elif match := _QUESTION.match(line):
                questions.append(match.group(1).strip())
        return cls(greeting, tuple(questions), closing)


@dataclass(frozen=True)
class Turn:
    """One response of the interviewer: the words to say and whether the interview is over."""

    text: str
    final: bool


class Interviewer:
    """Greets, asks one question per turn with a short acknowledgement, then says goodbye.

    Every response the engine produces advances the script by one step, whatever triggered
    it; assistant messages replayed as text (after a reconnect) advance it the same way.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.step = 0
        self.greeted = False  # the greeting was said word for word (a pre-generated message)
        self._key: str | None = None  # "*" or "#" pressed since the last turn

    def key_message(self, text: str) -> bool:
        """A system message: `Key *:` repeats the last question, `Key #:` skips it."""
        match = _KEY.match(text)
        if match is None:
            return False
        self._key = match.group(1)
        return True

    def next_turn(self) -> Turn:
        """The next thing to say (after the goodbye, a short goodbye again)."""
        key, self._key = self._key, None
        step, questions = self.step, self.script.questions
        if key == "*" and 1 <= step <= len(questions):
            return Turn(f"Of course. {questions[step - 1]}", final=False)
        self.step += 1
        if key == "#" and 1 <= step < len(questions):
            return Turn(f"Okay, let's move on. {questions[step]}", final=False)
        if step == 0:
            greeting = "" if self.greeted else f"{self.script.greeting} "
            if not questions:
                return Turn(f"{greeting}{self.script.closing}", final=True)
            return Turn(f"{greeting}{questions[0]}", final=False)
        if step < len(questions):
            ack = ACKNOWLEDGEMENTS[(step - 1) % len(ACKNOWLEDGEMENTS)]
            return Turn(f"{ack} {questions[step]}", final=False)
        if step == len(questions):
            closing = self.script.closing
            if not closing.lower().startswith("thank"):
                closing = f"{ACKNOWLEDGEMENTS[0]} {closing}"
            return Turn(closing, final=True)
        return Turn("Goodbye.", final=True)

    def pre_generated(self, text: str) -> None:
        """A line said word for word (pre_generated_assistant_message): it does not advance the
        script, but once the greeting has been said so, the first turn only asks question 1."""
        if self.step == 0 and _words(self.script.greeting) in _words(text):
            self.greeted = True

    def replayed(self, text: str) -> None:
        """An assistant message replayed as text (after a reconnect): the greeting said word
        for word counts as greeted; any other line as one step of the script done."""
        if self.step == 0 and not self.greeted and _words(self.script.greeting) in _words(text):
            self.greeted = True
            return
        self.skip()

    def skip(self) -> None:
        """Count one step as done without speaking (an assistant message replayed as text)."""
        self.step += 1
