"""Tool calls from the model: record_assessment's argument checks and the outputs sent back."""

from __future__ import annotations

import json

import pytest

from bot.interview.tools import Assessment, ToolError, parse_assessment, run_tool
from tests.support.interview import make_profile


class Sink:
    def __init__(self) -> None:
        self.recorded: list[Assessment] = []

    def assessment(self, assessment: Assessment) -> None:
        self.recorded.append(assessment)


def test_a_valid_assessment_is_parsed_against_the_profile() -> None:
    profile = make_profile()
    args = json.dumps({"question": 2, "score": 4, "evidence": '  "I write   unit tests"  '})
    assert parse_assessment(profile, args) == Assessment(
        2, "How do you test it?", 4, '"I write unit tests"'
    )
    assert parse_assessment(profile, '{"question": 3.0, "score": 1, "evidence": "x"}').number == 3


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ("{not json", "arguments are not valid JSON"),
        ("[1, 2]", "arguments must be a JSON object"),
        ('{"question": 1, "score": 3}', "missing argument(s): evidence"),
        ("{}", "missing argument(s): question, score, evidence"),
        ('{"question": "one", "score": 3, "evidence": "x"}', "question must be the question's"),
        ('{"question": true, "score": 3, "evidence": "x"}', "question must be the question's"),
        ('{"question": 4, "score": 3, "evidence": "x"}', "question 4 does not exist: there are 3"),
        ('{"question": 0, "score": 3, "evidence": "x"}', "question 0 does not exist"),
        ('{"question": 1, "score": 5, "evidence": "x"}', "score 5 is outside the rubric's range"),
        ('{"question": 1, "score": 0, "evidence": "x"}', "score 0 is outside"),
        ('{"question": 1, "score": 2.5, "evidence": "x"}', "score must be an integer from 1 to 4"),
        ('{"question": 1, "score": "3", "evidence": "x"}', "score must be an integer"),
        ('{"question": 1, "score": 3, "evidence": "  "}', "evidence must be the candidate's words"),
        ('{"question": 1, "score": 3, "evidence": 7}', "evidence must be the candidate's words"),
        (json.dumps({"question": 1, "score": 3, "evidence": "w" * 1001}), "evidence longer than"),
        ("x" * 20000, "arguments longer than"),
    ],
)  # fmt: skip
def test_bad_arguments_get_an_error_output_naming_the_problem(arguments: str, problem: str) -> None:
    profile, sink = make_profile(), Sink()
    with pytest.raises(ToolError) as caught:
        parse_assessment(profile, arguments)
    assert problem in str(caught.value)
    output = json.loads(run_tool(profile, "record_assessment", arguments, sink))
    assert output["ok"] is False and problem in output["error"]
    assert sink.recorded == []


def test_run_tool_records_and_answers_and_refuses_unknown_tools() -> None:
    profile, sink = make_profile(), Sink()
    output = run_tool(profile, "record_assessment", '{"question":1,"score":2,"evidence":"a"}', sink)
    assert json.loads(output) == {"ok": True, "recorded": {"question": 1, "score": 2}}
    assert sink.recorded == [Assessment(1, "What did you build last?", 2, "a")]
    unknown = json.loads(run_tool(profile, "transfer_call", "{}", sink))
    assert unknown == {"ok": False, "error": "unknown tool 'transfer_call'"}
    assert len(sink.recorded) == 1
