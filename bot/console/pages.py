"""The console's pages: the shared guard (session, CSRF, headers) and rendering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.console.auth import ConsoleAuth

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

Handler = Callable[[Request], Awaitable[Response]]
TEMPLATES_DIR = Path(__file__).parent / "templates"
NAV = (("live", "Live"), ("calls", "Calls"), ("interviews", "Interviews"), ("usage", "Usage"))
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


MAX_FORM = 16 * 1024


async def form_of(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (a console form), at most MAX_FORM bytes."""
    raw = await request.body()
    if len(raw) > MAX_FORM:
        return {}
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def auth_of(request: Request) -> ConsoleAuth:
    """The console's sign-in, built once per app from the settings."""
    auth = getattr(request.app.state, "console_auth", None)
    if auth is None:
        settings = request.app.state.services.settings
        auth = ConsoleAuth(settings.console_auth, settings.api_token,
                           secure=settings.public_url.startswith("https:"))  # fmt: skip
        request.app.state.console_auth = auth
    return auth


def secured(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@cache
def templates() -> Jinja2Templates:
    """The console's Jinja2 environment, built (and jinja2 imported, ~2 MB) at the first page
    rendered: a replica whose console nobody opens never loads it."""
    from starlette.templating import Jinja2Templates

    built = Jinja2Templates(directory=str(TEMPLATES_DIR))
    built.env.filters["when"] = when
    return built


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    auth = auth_of(request)
    context.update(
        request=request,
        nav=NAV,
        user=getattr(request.state, "user", None),
        csrf=auth.csrf(request),
        mode=auth.mode,
    )
    return secured(templates().TemplateResponse(request, template, context, status_code=status))


def refused(request: Request, message: str, status: int) -> Response:
    return render(request, "error.html", status=status, message=message)


def page(handler: Handler) -> Handler:
    """Signed in, or redirected to sign-in (GET) / 401; a POST must carry the session's CSRF
    token (403 otherwise)."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        auth = auth_of(request)
        user = auth.user(request)
        if user is None:
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                url = f"/console/signin?next={quote(target, safe='')}"
                if auth.mode == "easyauth":  # the platform's Entra ID sign-in, then back here
                    url = f"/.auth/login/aad?post_login_redirect_uri={quote(target, safe='')}"
                return secured(RedirectResponse(url, status_code=303))
            return secured(HTMLResponse("Sign in first.", status_code=401))
        request.state.user = user
        if request.method == "POST":
            form = await form_of(request)
            request.state.form = form
            if not auth.csrf_ok(request, str(form.get("csrf", ""))):
                return refused(request, "This form has expired or was not sent by the console "
                               "(CSRF check failed). Reload the page and try again.",
                               403)  # fmt: skip
        return secured(await handler(request))

    return wrapper


def parse_time(raw: str | None) -> datetime | None:
    """An ISO time or date from a query; naive means UTC. ValueError when it is not one."""
    if not raw:
        return None
    value = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def elapsed(started_at: str | None, now: datetime) -> str:
    if not started_at:
        return ""
    seconds = max(int((now - datetime.fromisoformat(started_at)).total_seconds()), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def when(value: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM:SS' UTC."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
