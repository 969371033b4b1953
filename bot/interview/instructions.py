"""The interviewer's instructions and tools, composed in one place."""

from __future__ import annotations

from typing import Any

from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile, Question

PRACTICE = Profile(
    name="practice",
    role="practice candidate",
    company="Practice Interviews",
    language="en-US",
    voice=None,
    greeting=(
        "Hello, thanks for calling. This is a short practice interview with two questions. "
        "Are you ready?"
    ),
    questions=(
        Question("Tell me about a project you are proud of and the part you played in it."),
        Question("Describe a time you disagreed with a colleague. What happened?"),
    ),
    rubric={1: "no relevant example", 3: "a relevant example", 5: "a clear, specific example"},
    duration_min=10,
    closing="Thank you for your time today. Goodbye.",
    source="built-in",
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


def tools(profile: Profile) -> list[dict[str, Any]]:
    """The functions the model may call during this interview."""
    return [END_INTERVIEW_TOOL]


def compose(profile: Profile = PRACTICE, context: InterviewContext | None = None) -> str:
    """Instructions for one interview over the phone, from its profile and candidate."""
    numbered = "\n".join(f"{n}. {q.text}" for n, q in enumerate(profile.questions, start=1))
    return (
        "You are a friendly, professional job interviewer speaking with a candidate on the "
        "phone. Speak naturally and briefly: one or two sentences per turn. Ask the questions "
        "below one at a time, in order; after each answer acknowledge it in a few words and "
        "move on. If the candidate interrupts you, stop and listen. When all questions are "
        "answered, thank the candidate, say the closing line, then call end_interview.\n"
        f"Greeting: {profile.greeting}\n"
        f"Questions:\n{numbered}\n"
        f"Closing: {profile.closing}"
    )
