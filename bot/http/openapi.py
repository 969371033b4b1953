"""The OpenAPI 3.1 document of every /api route, served at GET /api/openapi.json (no token).

Hand-written: tests/http/test_openapi.py compares its paths and methods with the app's routes
both ways, and a schemathesis run (tests/http/test_api_fuzz.py) checks the app against it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.http.openapi_schemas import (
    CALL,
    CALL_DETAIL,
    ERASURE,
    INTERVIEW,
    INTERVIEW_ID,
    LIMIT,
    REQUIRED,
    TIME,
    errors,
    interview_fields,
    json_body,
    op,
    ref,
)
from bot.interview.lifecycle import STATUSES
from bot.store import CALL_STATUSES
from bot.store.outbox_events import EVENT_TYPES
from bot.store.outbox_tables import STATUSES as OUTBOX_STATUSES

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
                "responses": {"200": json_body({"type": "object"}, "The OpenAPI 3.1 document")},
            }
        },
        "/api/calls": {
            "get": op(
                "Calls, newest first, a page at a time",
                {
                    "200": json_body(
                        {
                            "type": "object",
                            "properties": {
                                "calls": {"type": "array", "items": ref("Call")},
                                "next": {"type": ["string", "null"]},
                            },
                            "required": ["calls", "next"],
                        },
                        "A page of calls and the cursor of the next (null on the last)",
                    ),
                    **errors(400, 401),
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
            "get": op(
                "The results webhook's events and their delivery state, newest first",
                {
                    "200": json_body(
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
                    **errors(400, 401),
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
            "get": op(
                "One call with its transcript, assessments and report",
                {"200": json_body(ref("CallDetail"), "The call"), **errors(401, 404)},
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
            "get": op(
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
                    **errors(400, 401, 404, 416),
                    "409": json_body(ref("Error"), "The call is still being recorded"),
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
            "post": op(
                "Schedule an interview",
                {"201": json_body(ref("Interview"), "The new interview"), **errors(400, 401)},
                requestBody=interview_fields(required=REQUIRED),
            ),
            "get": op(
                "Interviews by scheduled time",
                {
                    "200": json_body(
                        {
                            "type": "object",
                            "properties": {
                                "interviews": {"type": "array", "items": ref("Interview")}
                            },
                            "required": ["interviews"],
                        },
                        "The interviews",
                    ),
                    **errors(400, 401),
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
            "get": op(
                "One interview with its attempts",
                {"200": json_body(ref("Interview"), "The interview"), **errors(401, 404)},
                parameters=[INTERVIEW_ID],
            ),
            "patch": op(
                "Reschedule (any of the fields; not while it is being called)",
                {"200": json_body(ref("Interview"), "The interview"), **errors(400, 401, 404, 409)},
                parameters=[INTERVIEW_ID],
                requestBody=interview_fields(minProperties=1),
            ),
            "delete": op(
                "Cancel; with erase=true also erase the candidate's personal data",
                {
                    "200": json_body(
                        {"oneOf": [ref("Interview"), ref("Erasure")]},
                        "The cancelled interview, or (erase=true) the erasure's audit row",
                    ),
                    **errors(400, 401, 404, 409),
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
