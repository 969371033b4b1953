"""The interviewer's instructions and tools, composed in one place."""

from __future__ import annotations

from typing import Any

PRACTICE_QUESTIONS = (
    "Tell me about a project you are proud of and the part you played in it.",
    "Describe a time you disagreed with a colleague. What happened?",
)

END_INTERVIEW_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "end_interview",
    "description": (
        "End the phone call. Call this only after you have said the closing line, "
        "or when the candidate asks to stop."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "description": "Why the interview ends, in a few words."}
        },
        "required": [],
    },
}


def compose(questions: tuple[str, ...] = PRACTICE_QUESTIONS) -> str:
    """Instructions for a short practice interview over the phone."""
    numbered = "\n".join(f"{n}. {q}" for n, q in enumerate(questions, start=1))
    return (
        "You are a friendly, professional job interviewer speaking with a candidate on the "
        "phone. Speak naturally and briefly: one or two sentences per turn. Ask the questions "
        "below one at a time, in order; after each answer acknowledge it in a few words and "
        "move on. If the candidate interrupts you, stop and listen. When all questions are "
        "answered, thank the candidate, say the closing line, then call end_interview.\n"
        "Greeting: Hello, thanks for calling. This is a short practice interview with two "
        "questions. Are you ready?\n"
        f"Questions:\n{numbered}\n"
        "Closing: Thank you for your time today. Goodbye."
    )
