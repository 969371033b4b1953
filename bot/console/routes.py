"""The console's routes: sign-in, Live, Calls, Call (timeline, recording), Interviews, Usage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.console import recordings as rec
from bot.console.auth import PRE_COOKIE
from bot.console.charts import usage_chart, wav_peaks, waveform_svg
from bot.console.pages import auth_of, elapsed, form_of, page, parse_time, refused, render, secured
from bot.console.timeline import timeline_svg
from bot.interview.lifecycle import STATUSES as INTERVIEW_STATUSES
from bot.interview.schedule import FIELDS, InvalidField, validate
from bot.observability.logs import mask_phone
from bot.store import CALL_STATUSES
from bot.store.console_queries import live_calls, usage
from bot.store.interviews import Conflict, NotFound

log = structlog.get_logger(__name__)
PAGE_SIZE = 50
MEASURES = (("calls", "Calls"), ("minutes", "Minutes"), ("tokens", "Tokens"),
            ("cost_usd", "Cost (USD)"))  # fmt: skip
MAX_USAGE_DAYS = 366
MAX_LIMIT = 200  # as GET /api/calls


async def schedule_interview(store: Any, body: dict[str, str], profiles: set[str] | None) -> Any:
    """What POST /api/interviews does: the same checks (schedule.validate, then the lifecycle's
    window check in create), so the same messages."""
    return await store.create(validate(body, profiles=profiles))


def _next(raw: str | None) -> str:
    """Where to go after sign-in: a console path only (no open redirect)."""
    if raw and raw.startswith("/console") and "//" not in raw and "\\" not in raw:
        return raw
    return "/console/live"


async def signin_form(request: Request) -> Response:
    auth = auth_of(request)
    if auth.mode == "easyauth":  # the platform signs people in before they reach us
        return secured(RedirectResponse("/console/live", status_code=303))
    if auth.user(request):
        return secured(RedirectResponse(_next(request.query_params.get("next")), 303))
    return _signin_page(request, None, 200)


def _signin_page(request: Request, error: str | None, status: int) -> Response:
    auth = auth_of(request)
    token, fresh = auth.signin_csrf(request)
    response = render(request, "signin.html", status=status, signin_csrf=token, error=error,
                      next=_next(request.query_params.get("next")),
                      configured=bool(auth.api_token))  # fmt: skip
    if fresh:
        auth.set_signin_cookie(response, token)
    return response


async def signin(request: Request) -> Response:
    auth = auth_of(request)
    form = await form_of(request)
    if not auth.signin_csrf_ok(request, str(form.get("csrf", ""))):
        return _signin_page(request, "The form expired (CSRF check failed); try again.", 403)
    if not auth.check_token(str(form.get("token", ""))):
        log.warning("console.signin_refused")
        return _signin_page(request, "That is not the API token.", 401)
    log.info("console.signed_in")
    response = RedirectResponse(_next(str(form.get("next", ""))), status_code=303)
    auth.set_session(response)
    response.delete_cookie(PRE_COOKIE, path="/console")
    return secured(response)


@page
async def signout(request: Request) -> Response:
    auth = auth_of(request)
    target = "/console/signin" if auth.mode == "token" else "/.auth/logout"
    response = RedirectResponse(target, status_code=303)
    auth.clear_session(response)
    return response


async def _live(request: Request) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    found = await live_calls(request.app.state.store.engine)
    return [{**c, "elapsed": elapsed(c["started_at"], now)} for c in found]


@page
async def live(request: Request) -> Response:
    return render(request, "live.html", current="live", calls=await _live(request))


@page
async def live_rows(request: Request) -> Response:
    return render(request, "live_rows.html", calls=await _live(request))


def _call_filters(request: Request) -> tuple[dict[str, Any], str | None]:
    """The call log's filters, checked with the API's messages."""
    params, error = request.query_params, None
    filters: dict[str, Any] = {}
    if params.get("since"):
        try:
            filters["since"] = parse_time(params["since"])
        except ValueError:
            error = "since: must be an ISO 8601 time like 2026-11-25T06:00:00Z"
    status = params.get("status") or None
    if status is not None and status not in CALL_STATUSES:
        error = f"status: must be one of {', '.join(CALL_STATUSES)}"
    elif status:
        filters["status"] = status
    for name in ("direction", "profile"):
        if params.get(name):
            filters[name] = params[name][:128]
    return filters, error


@page
async def calls(request: Request) -> Response:
    filters, error = _call_filters(request)
    found, following = [], None
    cursor = request.query_params.get("cursor") or None
    raw_limit = request.query_params.get("limit", str(PAGE_SIZE))
    limit = int(raw_limit) if raw_limit.isdigit() else 0
    if not 1 <= limit <= MAX_LIMIT:
        error = error or f"limit: must be an integer from 1 to {MAX_LIMIT}"
    if error is None:
        try:
            found, following = await request.app.state.store.list_calls(
                limit=limit, cursor=cursor, **filters
            )
        except ValueError:
            error = "cursor: not a cursor this API returned"
    query = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return render(request, "calls.html", status=400 if error else 200, current="calls",
                  calls=found, following=following, error=error, query=query,
                  statuses=CALL_STATUSES)  # fmt: skip


@page
async def call(request: Request) -> Response:
    sid = request.path_params["call_sid"]
    found = await request.app.state.store.get_call(sid)
    if found is None:
        return refused(request, "No call with this CallSid.", 404)
    store = rec.recordings_of(request)
    recording = await store.stat(sid) if store is not None else None
    return render(request, "call.html", current="calls", call=found,
                  timeline=timeline_svg(found), recording=recording)  # fmt: skip


@page
async def recording(request: Request) -> Response:
    store = rec.recordings_of(request)
    if store is None:
        return Response("no recording", status_code=404, media_type="text/plain")
    return await rec.serve(store, request.path_params["call_sid"], request.headers.get("range"))


@page
async def waveform(request: Request) -> Response:
    store = rec.recordings_of(request)
    sid = request.path_params["call_sid"]
    info = await store.stat(sid) if store is not None else None
    if store is None or info is None or info.size > rec.MAX_WAVEFORM_BYTES:
        return Response("no waveform", status_code=404, media_type="text/plain")
    data = await store.read(sid, 0, info.size)
    peaks = await asyncio.to_thread(wav_peaks, data)  # decoding is work: off the event loop
    if peaks is None:
        return Response("no waveform", status_code=404, media_type="text/plain")
    return Response(waveform_svg(peaks), media_type="image/svg+xml")


def _profiles(request: Request) -> list[str]:
    return sorted(request.app.state.services.profiles or [])


async def _interviews_page(request: Request, status: int = 200, **extra: Any) -> Response:
    wanted = request.query_params.get("status") or None
    if wanted not in (None, *INTERVIEW_STATUSES):
        wanted = None
    found = await request.app.state.services.interviews.list(status=wanted, limit=200)
    shown = [{**iv, "phone": mask_phone(iv["phone"])} for iv in found]
    extra.setdefault("values", {})
    return render(request, "interviews.html", status=status, current="interviews",
                  interviews=shown, statuses=INTERVIEW_STATUSES, wanted=wanted,
                  profiles=_profiles(request), **extra)  # fmt: skip


@page
async def interviews(request: Request) -> Response:
    return await _interviews_page(request)


@page
async def schedule(request: Request) -> Response:
    form = request.state.form
    body = {name: str(form[name]) for name in FIELDS if str(form.get(name, "")).strip()}
    profiles = set(_profiles(request)) or None
    try:
        created = await schedule_interview(request.app.state.services.interviews, body, profiles)
    except InvalidField as exc:
        values = {k: v for k, v in body.items() if k != "phone"}
        return await _interviews_page(request, 400, error=str(exc), field=exc.field,
                                      values=values)  # fmt: skip
    log.info("interview.scheduled", interview_id=created["id"], via="console",
             phone=mask_phone(created["phone"]))  # fmt: skip
    notice = f"Scheduled {created['id']} for {created['scheduled_at']}."
    return await _interviews_page(request, 201, notice=notice)


@page
async def cancel(request: Request) -> Response:
    interview_id = request.path_params["interview_id"]
    try:
        await request.app.state.services.interviews.cancel(interview_id)
    except NotFound:
        return await _interviews_page(request, 404, error="no interview with this id")
    except Conflict as exc:
        return await _interviews_page(request, 409, error=str(exc))
    log.info("interview.cancelled", interview_id=interview_id, via="console")
    return await _interviews_page(request, notice=f"Cancelled {interview_id}.")


def _days(since: datetime, until: datetime) -> list[str]:
    count = (until.date() - since.date()).days + 1
    return [(since.date() + timedelta(days=n)).isoformat() for n in range(max(count, 0))]


@page
async def usage_page(request: Request) -> Response:
    params, error = request.query_params, None
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        since = parse_time(params.get("from")) or today - timedelta(days=13)
        until = parse_time(params.get("to")) or today
    except ValueError:
        since, until, error = today - timedelta(days=13), today, "from/to: must be dates"
    if error is None and not timedelta(0) <= until - since <= timedelta(days=MAX_USAGE_DAYS):
        error = f"to: must be on or after from, at most {MAX_USAGE_DAYS} days later"
    rows = [] if error else await usage(request.app.state.store.engine, since,
                                        until + timedelta(days=1))  # fmt: skip
    measure = params.get("measure") if params.get("measure") in dict(MEASURES) else "cost_usd"
    totals = {m: sum(r[m] for r in rows) for m, _ in MEASURES}
    return render(request, "usage.html", status=400 if error else 200, current="usage",
                  rows=rows, totals=totals, error=error, measure=measure, measures=MEASURES,
                  chart=usage_chart(rows, measure, dict(MEASURES)[measure], _days(since, until)),
                  since=since.date().isoformat(), until=until.date().isoformat())  # fmt: skip


async def home(request: Request) -> Response:
    return secured(RedirectResponse("/console/live", status_code=303))


def console_routes() -> list[BaseRoute]:
    """The /console routes (they read app.state.store and app.state.services)."""
    return [
        Route("/console", home, methods=["GET"]),
        Route("/console/signin", signin_form, methods=["GET"]),
        Route("/console/signin", signin, methods=["POST"]),
        Route("/console/signout", signout, methods=["POST"]),
        Route("/console/live", live, methods=["GET"]),
        Route("/console/live/rows", live_rows, methods=["GET"]),
        Route("/console/calls", calls, methods=["GET"]),
        Route("/console/calls/{call_sid}", call, methods=["GET"]),
        Route("/console/calls/{call_sid}/recording", recording, methods=["GET"]),
        Route("/console/calls/{call_sid}/waveform.svg", waveform, methods=["GET"]),
        Route("/console/interviews", interviews, methods=["GET"]),
        Route("/console/interviews", schedule, methods=["POST"]),
        Route("/console/interviews/{interview_id}/cancel", cancel, methods=["POST"]),
        Route("/console/usage", usage_page, methods=["GET"]),
        Mount(
            "/console/static",
            StaticFiles(directory=Path(__file__).parent / "static"),
            name="console-static",
        ),
    ]
