"""Schemathesis over the OpenAPI document against the app's real /api routes in process (a
SQLite store, one interview and one call seeded): no 5xx, responses as documented, and every
4xx a JSON error whose message names the field or what was not found."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette

from bot.http.app import create_app
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile
from bot.runtime import build_runtime
from bot.store import Store, database_url
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from tests.support import make_settings

pytestmark = pytest.mark.xdist_group("api_fuzz")

TOKEN = "api-token-for-the-fuzz-0123456789"
EXAMPLES = 25  # per operation: the whole run stays around ten seconds
_apps = itertools.count()


async def no_model(_profile: Profile, _context: InterviewContext) -> VoiceLiveConnection:
    raise VoiceLiveUnavailable("no model in these tests")


def the_app(tmp: Path) -> Starlette:
    """The app's own routes and handlers, with a lifespan that opens only a store (no model,
    no dialer), run by schemathesis on its event loop."""
    config = make_settings(tmp=tmp, API_TOKEN=TOKEN)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await Store.open(database_url(None, tmp))
        runtime = build_runtime(config, no_model, store=store)
        app.state.services, app.state.store = runtime, store
        assert runtime.interviews is not None
        soon = (datetime.now(UTC) + timedelta(days=2)).replace(hour=15, minute=0).isoformat()
        await runtime.interviews.create(
            {"candidate_name": "Ada Lovelace", "phone": "+14155550142", "profile": "practice",
             "timezone": "America/New_York", "scheduled_at": datetime.fromisoformat(soon),
             "window_start": "09:00", "window_end": "20:00", "role": None}
        )  # fmt: skip
        await store.call_started(call_sid="CA" + "0" * 32, direction="inbound",
                                 started_at=datetime.now(UTC), from_masked="+1******0142",
                                 to_masked=None, instance="fuzz")  # fmt: skip
        yield
        await store.close()

    real = create_app(config)
    return Starlette(
        routes=real.routes, lifespan=lifespan, exception_handlers=real.exception_handlers
    )


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = the_app(tmp_path_factory.mktemp(f"fuzz{next(_apps)}"))
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


def names_the_problem(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx is a JSON object whose `error` says what was wrong: a field (named) or not found."""
    if not 400 <= response.status_code < 500:
        return None
    sent = f"{case.method} {case.formatted_path} {case.query}"
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"{sent}: {response.status_code} {response.text}"
    )
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), response.text
    error = body["error"]
    if response.status_code in (400, 409):
        assert "field" in body or error.split(":", 1)[0].strip().isidentifier(), error
        if "field" in body:
            assert error.startswith(body["field"]) or body["field"] == "status", error
    return True


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_holds_to_its_document(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            names_the_problem,
        ],
    )
