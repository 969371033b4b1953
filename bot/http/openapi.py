"""The OpenAPI 3.1 document of every /api route, served at GET /api/openapi.json (no token).

Hand-written: tests/http/test_openapi.py compares its paths and methods with the app's routes
both ways, and a schemathesis run (tests/http/test_api_fuzz.py) checks the app against it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.interview.lifecycle import STATUSES
from bot.store import CALL_STATUSES
from bot.store.outbox_events import EVENT_TYPES
from bot.store.outbox_tables import STATUSES as OUTBOX_STATUSES

TIME = {"type": "string", "format": "date-time"}
STAMP = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input: `error` names the field (`field` too, on the interview routes)",
        401: "Missing or wrong bearer token (or API_TOKEN unset)",
        404: "No such interview or call",
        409: "The interview is being called now (or was erased)",
        416: "The Range asked for lies outside the recording (`Content-Range: bytes */size`)",
    }
    return {str(code): _json(_ref("Error"), text[code]) for code in codes}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
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
        _ref("Call"),
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
        "interview": _ref("Interview"),
    },
    "required": ["erased", "already_erased", "erasure", "interview"],
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "AI telephone interviewer API",
        "version": "1.0.0",
        "description": "Schedule phone interviews, read their calls, erase a candidate. Every "
        "route but this document needs `Authorization: Bearer <API_TOKEN>`. Errors are JSON "
        "`{error, field?}`, and `error` begins with the field it is about.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
                "required": ["error"],
            },
            "Interview": INTERVIEW,
            "Call": CALL,
            "CallDetail": CALL_DETAIL,
            "Erasure": ERASURE,
        },
    },
    "paths": {
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI 3.1 document")},
            }
        },
        "/api/calls": {
            "get": _op(
                "Calls, newest first, a page at a time",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "calls": {"type": "array", "items": _ref("Call")},
                                "next": {"type": ["string", "null"]},
                            },
                            "required": ["calls", "next"],
                        },
                        "A page of calls and the cursor of the next (null on the last)",
                    ),
                    **_errors(400, 401),
                },
                parameters=[
                    {"name": "since", "in": "query", "schema": TIME},
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(CALL_STATUSES)},
                    },
                    {
                        "name": "direction",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["inbound", "outbound"]},
                    },
                    {"name": "profile", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {**LIMIT, "maximum": 200}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/api/deliveries": {
            "get": _op(
                "The results webhook's events and their delivery state, newest first",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "deliveries": {"type": "array", "items": {"type": "object"}},
                                "next": {"type": ["string", "null"]},
                                "backlog": {"type": "integer", "minimum": 0},
                                "enabled": {"type": "boolean"},
                            },
                            "required": ["deliveries", "next", "backlog", "enabled"],
                        },
                        "A page of events (never their data) and the cursor of the next",
                    ),
                    **_errors(400, 401),
                },
                parameters=[
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(OUTBOX_STATUSES)},
                    },
                    {
                        "name": "type",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(EVENT_TYPES)},
                    },
                    {"name": "since", "in": "query", "schema": TIME},
                    {"name": "limit", "in": "query", "schema": {**LIMIT, "maximum": 200}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/api/calls/{call_sid}": {
            "get": _op(
                "One call with its transcript, assessments and report",
                {"200": _json(_ref("CallDetail"), "The call"), **_errors(401, 404)},
                parameters=[
                    {
                        "name": "call_sid",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
            )
        },
        "/api/calls/{call_sid}/recording": {
            "get": _op(
                "The call's recording (stereo FLAC: caller left, bot right), seekable by Range",
                {
                    "200": {
                        "description": "The whole recording",
                        "content": {
                            "audio/flac": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "206": {
                        "description": "The byte range asked for (Range: bytes=a-b, a-, -n)",
                        "content": {
                            "audio/flac": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **_errors(400, 401, 404, 416),
                    "409": _json(_ref("Error"), "The call is still being recorded"),
                },
                parameters=[
                    {
                        "name": "call_sid",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {"name": "Range", "in": "header", "schema": {"type": "string"}},
                ],
            )
        },
        "/api/interviews": {
            "post": _op(
                "Schedule an interview",
                {"201": _json(_ref("Interview"), "The new interview"), **_errors(400, 401)},
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": FIELDS,
                                "required": REQUIRED,
                                "additionalProperties": False,
                            }
                        }
                    },
                },
            ),
            "get": _op(
                "Interviews by scheduled time",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "interviews": {"type": "array", "items": _ref("Interview")}
                            },
                            "required": ["interviews"],
                        },
                        "The interviews",
                    ),
                    **_errors(400, 401),
                },
                parameters=[
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(STATUSES)},
                    },
                    {"name": "limit", "in": "query", "schema": {**LIMIT, "maximum": 1000}},
                ],
            ),
        },
        "/api/interviews/{interview_id}": {
            "get": _op(
                "One interview with its attempts",
                {"200": _json(_ref("Interview"), "The interview"), **_errors(401, 404)},
                parameters=[INTERVIEW_ID],
            ),
            "patch": _op(
                "Reschedule (any of the fields; not while it is being called)",
                {"200": _json(_ref("Interview"), "The interview"), **_errors(400, 401, 404, 409)},
                parameters=[INTERVIEW_ID],
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": FIELDS,
                                "minProperties": 1,
                                "additionalProperties": False,
                            }
                        }
                    },
                },
            ),
            "delete": _op(
                "Cancel; with erase=true also erase the candidate's personal data",
                {
                    "200": _json(
                        {"oneOf": [_ref("Interview"), _ref("Erasure")]},
                        "The cancelled interview, or (erase=true) the erasure's audit row",
                    ),
                    **_errors(400, 401, 404, 409),
                },
                parameters=[
                    INTERVIEW_ID,
                    {
                        "name": "erase",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
                    },
                ],
            ),
        },
    },
}


async def openapi(_request: Request) -> Response:
    """GET /api/openapi.json -> the document (no token: it holds no data)."""
    return JSONResponse(DOCUMENT)


def openapi_routes() -> list[BaseRoute]:
    """The document's route."""
    return [Route("/api/openapi.json", openapi, methods=["GET"])]
