"""Fake Twilio REST API (Calls create and update, HTTP basic auth) on 127.0.0.1, written from
docs/twilio.md; afterwards it plays Twilio's part: signed status callbacks, AMD results and the
voice webhook, in any order the test asks for."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.contract.twilio import check_rest

from .signing import twilio_signature

API = "/2010-04-01/Accounts/{account}"
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
STATUS_EVENTS = {"initiated", "ringing", "answered", "completed"}


@dataclass
class Failure:
    """An error the fake answers with instead of creating a call."""

    status: int
    code: int
    message: str


@dataclass
class FakeCall:
    """One call created through the fake, and what the app asked of it."""

    sid: str
    to: str
    from_: str
    form: dict[str, list[str]]
    created_at: datetime
    status: str = "queued"
    sequence: int = 0
    updates: list[dict[str, str]] = field(default_factory=list)

    def one(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[-1] if values else None

    @property
    def url(self) -> str | None:
        return self.one("Url")

    @property
    def query(self) -> dict[str, str]:
        """The query of the voice URL the app gave (it names the interview and attempt)."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.url or "").query).items()}


def _error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


class FakeTwilioRest:
    """`async with FakeTwilioRest(sid, token) as fake:` then point TWILIO_API_URL at fake.url."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        verified_from: set[str] | None = None,
        on_create: Callable[[FakeCall], Awaitable[None]] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.verified_from = verified_from
        self.on_create = on_create
        self.calls: list[FakeCall] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.failures: dict[str, deque[Failure]] = {}
        self.fail_always: Failure | None = None
        self.create_delay_s = 0.0  # before the call exists (a slow API)
        self.respond_delay_s = 0.0  # after it exists, before the app hears its CallSid
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: uvicorn.Server | None = None
        self._serve: asyncio.Task[None] | None = None
        self.url = ""

    # --- test controls ----------------------------------------------------------------------

    def fail_next(self, to: str, status: int, code: int, message: str) -> None:
        """The next create for this number fails with this error."""
        self.failures.setdefault(to, deque()).append(Failure(status, code, message))

    def by_sid(self, sid: str) -> FakeCall:
        return next(c for c in self.calls if c.sid == sid)

    def creates_per_interview(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            key = call.query.get("interview", "?")
            counts[key] = counts.get(key, 0) + 1
        return counts

    # --- the REST API -----------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) == (self.account_sid, self.auth_token)

    async def _form(self, request: Request) -> dict[str, list[str]]:
        form: dict[str, list[str]] = {}
        for name, value in parse_qsl((await request.body()).decode(), keep_blank_values=True):
            form.setdefault(name, []).append(value)
        return form

    def _check(self, request: Request) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path))
        if not self._authorized(request) or request.path_params["account"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        return None

    async def _create(self, request: Request) -> Response:
        refused = self._check(request)
        if refused:
            return refused
        form = await self._form(request)
        check_rest("create", form, "bot -> Twilio REST")  # fields as twilio-python sends them
        to, from_ = (form.get("To") or [""])[-1], (form.get("From") or [""])[-1]
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21213, "No 'From' number is specified")
        if not (form.get("Url") or form.get("Twiml")):
            return _error(400, 21205, "Url parameter is required")
        bad_events = set(form.get("StatusCallbackEvent", [])) - STATUS_EVENTS
        if bad_events:
            return _error(400, 21626, f"Invalid StatusCallbackEvent {sorted(bad_events)[0]}")
        if not E164.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if self.verified_from is not None and from_ not in self.verified_from:
            return _error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet "
                "verified for your account. You may only make calls from phone "
                "numbers that you've verified or purchased from Twilio.",
            )
        queued = self.failures.get(to)
        failure = queued.popleft() if queued else self.fail_always
        if failure is not None:
            return _error(failure.status, failure.code, failure.message)
        if self.create_delay_s:
            await asyncio.sleep(self.create_delay_s)
        now = datetime.now(UTC)
        call = FakeCall("CA" + secrets.token_hex(16), to, from_, form, now)
        self.calls.append(call)
        if self.on_create is not None:
            self._spawn(self.on_create(call))
        if self.respond_delay_s:
            await asyncio.sleep(self.respond_delay_s)
        return JSONResponse(self._resource(call), status_code=201)

    async def _update(self, request: Request) -> Response:
        refused = self._check(request)
        if refused:
            return refused
        sid = request.path_params["sid"]
        call = next((c for c in self.calls if c.sid == sid), None)
        if call is None:
            return _error(404, 20404, f"The requested resource {request.url.path} was not found")
        posted = await self._form(request)
        check_rest("update", posted, "bot -> Twilio REST")  # fields as twilio-python sends them
        form = {k: v[-1] for k, v in posted.items()}
        if ("Twiml" in form or "Url" in form) and call.status in ("completed", "canceled"):
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        call.updates.append(form)
        if form.get("Status") in ("completed", "canceled"):
            call.status = form["Status"]
        return JSONResponse(self._resource(call))

    def _resource(self, call: FakeCall) -> dict[str, Any]:
        date = format_datetime(call.created_at)
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "to": call.to,
            "from": call.from_,
            "status": call.status,
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": date,
            "date_updated": date,
            "start_time": None,
            "end_time": None,
            "duration": None,
            "answered_by": None,
            "price": None,
            "price_unit": "USD",
            "parent_call_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.sid}.json",
        }

    # --- playing Twilio's part afterwards ---------------------------------------------------

    async def _post(self, url: str, params: dict[str, str]) -> httpx.Response:
        signature = twilio_signature(self.auth_token, url, params)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})

    def _common(self, call: FakeCall) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "AccountSid": self.account_sid,
            "From": call.from_,
            "To": call.to,
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }

    async def status(
        self,
        call: FakeCall,
        status: str,
        *,
        sequence: int | None = None,
        duration: int | None = None,
        answered_by: str | None = None,
        at: datetime | None = None,
    ) -> httpx.Response:
        """POST a status callback (CallStatus, SequenceNumber counting from 0, Timestamp)."""
        url = call.one("StatusCallback")
        assert url, "the app asked for no status callback"
        if sequence is None:
            sequence = call.sequence
            call.sequence += 1
        if status in ("completed", "busy", "no-answer", "failed", "canceled"):
            call.status = status
        params = {
            **self._common(call),
            "CallStatus": status,
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(at or datetime.now(UTC)),
            "CallbackSource": "call-progress-events",
        }
        if duration is not None:
            params["CallDuration"] = str(duration)
        if answered_by:
            params["AnsweredBy"] = answered_by
        return await self._post(url, params)

    async def amd(self, call: FakeCall, answered_by: str, detect_ms: int = 2400) -> httpx.Response:
        """POST the async AMD result to AsyncAmdStatusCallback."""
        url = call.one("AsyncAmdStatusCallback")
        assert url, "the app asked for no async AMD callback"
        params = {
            "CallSid": call.sid,
            "AccountSid": self.account_sid,
            "AnsweredBy": answered_by,
            "MachineDetectionDuration": str(detect_ms),
        }
        return await self._post(url, params)

    async def voice(self, call: FakeCall, url: str | None = None) -> httpx.Response:
        """Request the call's TwiML (the voice URL, or a <Redirect> URL) as Twilio does."""
        target = url or call.url
        assert target
        return await self._post(target, {**self._common(call), "CallStatus": "in-progress"})

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- serving ------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTwilioRest:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = Starlette(
            routes=[
                Route(f"{API}/Calls.json", self._create, methods=["POST"]),
                Route(API + "/Calls/{sid}.json", self._update, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._serve = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                break
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None and self._serve is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._serve, 10)
