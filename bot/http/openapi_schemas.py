"""The parts of the OpenAPI document (bot/http/openapi.py): shared schemas and helpers."""

from __future__ import annotations

from typing import Any

from bot.interview.lifecycle import STATUSES
from bot.store import CALL_STATUSES

TIME = {"type": "string", "format": "date-time"}
STAMP = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def interview_fields(**rule: Any) -> dict[str, Any]:
    """A required JSON request body of the interview's fields (FIELDS), none other allowed,
    with `rule` on top (which are required, or how many at least)."""
    schema = {"type": "object", "properties": FIELDS, **rule, "additionalProperties": False}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input: `error` names the field (`field` too, on the interview routes)",
        401: "Missing or wrong bearer token (or API_TOKEN unset)",
        404: "No such interview or call",
        409: "The interview is being called now (or was erased)",
        416: "The Range asked for lies outside the recording (`Content-Range: bytes */size`)",
    }
    return {str(code): json_body(ref("Error"), text[code]) for code in codes}


def op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": [{"bearer": []}], "responses": responses, **extra}


INTERVIEW_ID = {
    "name": "interview_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^iv_[0-9a-f]{16}$"},
}
LIMIT = {"type": "integer", "minimum": 1}
FIELDS = {
    "candidate_name": {"type": "string", "minLength": 1, "maxLength": 200},
    "phone": {"type": "string", "description": "E.164, like +14155550123 (spaces allowed)"},
    "profile": {"type": "string", "description": "an interview profile's name"},
    "role": {"type": ["string", "null"], "maxLength": 200},
    "timezone": {"type": "string", "description": "IANA zone, like America/New_York"},
    "scheduled_at": {**TIME, "description": "ISO 8601 with an offset"},
    "window_start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
    "window_end": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
}
REQUIRED = ["candidate_name", "phone", "profile", "timezone", "scheduled_at"]

ATTEMPT = {
    "type": "object",
    "properties": {
        "seq": {"type": "integer"},
        "at": TIME,
        "call_sid": {"type": ["string", "null"]},
        "outcome": {"type": "string"},
        "call_status": {"type": ["string", "null"]},
        "answered_by": {"type": ["string", "null"]},
        "answered_at": STAMP,
        "ended_at": STAMP,
        "duration_s": {"type": ["integer", "null"]},
        "error": {"type": ["object", "null"]},
    },
    "required": ["seq", "at", "call_sid", "outcome", "error"],
}
INTERVIEW = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "code": {"type": "string", "description": "six digits the candidate may key in"},
        **FIELDS,
        "candidate_name": {"type": "string", "description": "[erased] once erased"},
        "phone": {"type": "string", "description": "masked (+1******0123) once erased"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "next_attempt_at": STAMP,
        "attempts_used": {"type": "integer"},
        "attempt_count": {"type": "integer"},
        "created_at": TIME,
        "updated_at": TIME,
        "erased_at": STAMP,
        "attempts": {"type": "array", "items": ATTEMPT},
    },
    "required": ["id", "code", "candidate_name", "phone", "status", "scheduled_at", "erased_at"],
}
CALL = {
    "type": "object",
    "properties": {
        "call_sid": {"type": "string"},
        "direction": {"type": "string"},
        "status": {"type": "string", "enum": list(CALL_STATUSES)},
        "interview_id": {"type": ["string", "null"]},
        "profile": {"type": ["string", "null"]},
        "from": {"type": ["string", "null"], "description": "masked number"},
        "to": {"type": ["string", "null"], "description": "masked number"},
        "started_at": TIME,
        "answered_at": STAMP,
        "ended_at": STAMP,
        "duration_s": {"type": ["number", "null"]},
        "end_reason": {"type": ["string", "null"]},
        "turns": {"type": "integer"},
        "barge_ins": {"type": "integer"},
        "response_ms_p50": {"type": ["number", "null"]},
        "response_ms_p95": {"type": ["number", "null"]},
        "usage": {"type": "object"},
        "cost_usd": {"type": "number"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["call_sid", "status", "started_at", "cost_usd"],
}
CALL_DETAIL = {
    "allOf": [
        ref("Call"),
        {
            "type": "object",
            "properties": {
                "transcript": {"type": "array", "items": {"type": "object"}},
                "assessments": {"type": "array", "items": {"type": "object"}},
                "report": {"type": ["object", "null"]},
            },
            "required": ["transcript", "assessments", "report"],
        },
    ]
}
ERASURE = {
    "type": "object",
    "properties": {
        "erased": {"const": True},
        "already_erased": {"type": "boolean"},
        "erasure": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "interview_id": {"type": "string"},
                "at": TIME,
                "by": {"type": "string", "enum": ["api", "cli"]},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
            "required": ["id", "interview_id", "at", "by", "counts"],
        },
        "interview": ref("Interview"),
    },
    "required": ["erased", "already_erased", "erasure", "interview"],
}
