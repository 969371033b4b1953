"""The fake Twilio REST API on 127.0.0.1: Calls create and update, the Account and its
IncomingPhoneNumbers, HTTP basic auth, test controls (failures, numbers), and serving."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.contract.twilio import check_rest
from tests.support.server import free_port

from .callbacks import Callbacks
from .resources import API, E164, NUMBER_FIELDS, STATUS_EVENTS, Failure, FakeCall, FakeNumber, error


class FakeTwilioRest(Callbacks):
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
        # Twilio's part after a live call's TwiML is replaced (e.g. its media stream ends)
        self.on_update: Callable[[FakeCall, dict[str, str]], Awaitable[None]] | None = None
        self.calls: list[FakeCall] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.failures: dict[str, deque[Failure]] = {}
        self.fail_always: Failure | None = None
        self.account_status = "active"  # "active" | "suspended" | "closed"
        self.account_type = "Full"  # "Full" | "Trial"
        self.friendly_name = "My first Twilio account"
        self.numbers: list[FakeNumber] = []
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

    def add_number(self, phone_number: str, **fields: str) -> FakeNumber:
        """Give the account a phone number (voice_url, status_callback, … as keywords)."""
        number = FakeNumber("PN" + secrets.token_hex(16), phone_number, **fields)  # type: ignore[arg-type]
        number.friendly_name = number.friendly_name or phone_number
        self.numbers.append(number)
        return number

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
            return error(401, 20003, "Authenticate")
        return None

    async def _create(self, request: Request) -> Response:
        refused = self._check(request)
        if refused:
            return refused
        form = await self._form(request)
        check_rest("create", form, "bot -> Twilio REST")  # fields as twilio-python sends them
        to, from_ = (form.get("To") or [""])[-1], (form.get("From") or [""])[-1]
        if not to:
            return error(400, 21201, "No 'To' number is specified")
        if not from_:
            return error(400, 21213, "No 'From' number is specified")
        if not (form.get("Url") or form.get("Twiml")):
            return error(400, 21205, "Url parameter is required")
        bad_events = set(form.get("StatusCallbackEvent", [])) - STATUS_EVENTS
        if bad_events:
            return error(400, 21626, f"Invalid StatusCallbackEvent {sorted(bad_events)[0]}")
        if not E164.match(to):
            return error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if self.verified_from is not None and from_ not in self.verified_from:
            return error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet "
                "verified for your account. You may only make calls from phone "
                "numbers that you've verified or purchased from Twilio.",
            )
        queued = self.failures.get(to)
        failure = queued.popleft() if queued else self.fail_always
        if failure is not None:
            return error(failure.status, failure.code, failure.message)
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
            return error(404, 20404, f"The requested resource {request.url.path} was not found")
        posted = await self._form(request)
        check_rest("update", posted, "bot -> Twilio REST")  # fields as twilio-python sends them
        form = {k: v[-1] for k, v in posted.items()}
        if ("Twiml" in form or "Url" in form) and call.status in ("completed", "canceled"):
            return error(400, 21220, "Call is not in-progress. Cannot redirect.")
        call.updates.append(form)
        if form.get("Status") in ("completed", "canceled"):
            call.status = form["Status"]
        if self.on_update is not None:
            self._spawn(self.on_update(call, form))
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

    def _account_resource(self) -> dict[str, Any]:
        date = format_datetime(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        return {
            "auth_token": self.auth_token,  # Twilio returns it: a client must never print it
            "date_created": date,
            "date_updated": date,
            "friendly_name": self.friendly_name,
            "owner_account_sid": self.account_sid,
            "sid": self.account_sid,
            "status": self.account_status,
            "subresource_uris": {
                "calls": f"{base}/Calls.json",
                "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
            },
            "type": self.account_type,
            "uri": f"{base}.json",
        }

    async def _fetch_account(self, request: Request) -> Response:
        refused = self._check(request)
        return refused or JSONResponse(self._account_resource())

    def _number_resource(self, number: FakeNumber) -> dict[str, Any]:
        base = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{number.sid}"
        return {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": "2010-04-01",
            "beta": False,
            "bundle_sid": None,
            "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
            "date_created": format_datetime(number.created_at),
            "date_updated": format_datetime(number.updated_at),
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "emergency_status": "Inactive",
            "friendly_name": number.friendly_name,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": number.phone_number,
            "sid": number.sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status": "in-use",
            "status_callback": number.status_callback,
            "status_callback_method": number.status_callback_method,
            "subresource_uris": {"assigned_add_ons": f"{base}/AssignedAddOns.json"},
            "trunk_sid": None,
            "uri": f"{base}.json",
            "voice_application_sid": "",
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": "",
            "voice_method": number.voice_method,
            "voice_receive_mode": "voice",
            "voice_url": number.voice_url,
        }

    async def _list_numbers(self, request: Request) -> Response:
        """Read IncomingPhoneNumbers; PhoneNumber filters (partial numbers, `*` any digit)."""
        refused = self._check(request)
        if refused:
            return refused
        wanted = request.query_params.get("PhoneNumber")
        try:
            page_size = max(1, min(1000, int(request.query_params.get("PageSize", "50"))))
        except ValueError:
            return error(400, 20001, "Invalid PageSize")
        found = self.numbers
        if wanted:
            pattern = re.compile("".join(r"\d" if c == "*" else re.escape(c) for c in wanted))
            found = [n for n in found if pattern.search(n.phone_number)]
        items = found[:page_size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        query = f"?PageSize={page_size}" + (f"&PhoneNumber={wanted}" if wanted else "")
        return JSONResponse(
            {
                "end": max(0, len(items) - 1),
                "first_page_uri": f"{base}{query}&Page=0",
                "incoming_phone_numbers": [self._number_resource(n) for n in items],
                "next_page_uri": None,
                "page": 0,
                "page_size": page_size,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{base}{query}&Page=0",
            }
        )

    async def _update_number(self, request: Request) -> Response:
        refused = self._check(request)
        if refused:
            return refused
        sid = request.path_params["sid"]
        number = next((n for n in self.numbers if n.sid == sid), None)
        if number is None:
            return error(404, 20404, f"The requested resource {request.url.path} was not found")
        form = {k: v[-1] for k, v in (await self._form(request)).items()}
        for name in ("VoiceMethod", "StatusCallbackMethod"):
            if name in form and form[name].upper() not in ("GET", "POST"):
                return error(400, 20001, f"{name} must be GET or POST")  # code unconfirmed
        number.updates.append(form)
        for name, attribute in NUMBER_FIELDS.items():
            if name in form:
                setattr(number, attribute, form[name])
        number.updated_at = datetime.now(UTC)
        return JSONResponse(self._number_resource(number))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- serving ------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTwilioRest:
        port = free_port()  # outside the ephemeral range
        app = Starlette(
            routes=[
                Route(f"{API}/Calls.json", self._create, methods=["POST"]),
                Route(API + "/Calls/{sid}.json", self._update, methods=["POST"]),
                Route(f"{API}.json", self._fetch_account, methods=["GET"]),
                Route(f"{API}/IncomingPhoneNumbers.json", self._list_numbers, methods=["GET"]),
                Route(
                    API + "/IncomingPhoneNumbers/{sid}.json", self._update_number, methods=["POST"]
                ),
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
