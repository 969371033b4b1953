"""Suite-wide: every test's Voice Live and Twilio traffic is checked against the vendors'
own models (tests/contract). A violation fails the test that caused it, naming the event
or document; `@pytest.mark.contract_exempt("why")` opts a test out (traffic malformed on
purpose), as does `FakeVoiceLive(check_contract=False)` for one fake. Under pytest-xdist
each worker gets a PostgreSQL database of its own (tests/support/workers.py), and every test
its own tmp_path, ports from the kernel and schema or database: none needs an `xdist_group`
today (tests that must share a worker would take one, with a reason)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from tests import contract
from tests.contract.twilio import check_twiml
from tests.contract.voicelive import check_client_event, check_server_event
from tests.support.workers import give_worker_its_database, slowest_first


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "contract_exempt(reason): this test sends traffic that breaks the vendors' contract on "
        "purpose; its contract violations do not fail it",
    )
    give_worker_its_database(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slowest_first(config, items)


def _exempt(item: pytest.Item) -> bool:
    return item.get_closest_marker("contract_exempt") is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself (not just its teardown) when its traffic broke the contract."""
    try:
        result = yield
    except BaseException as exc:
        found = contract.take()
        if found and not _exempt(item):
            exc.add_note(contract.report(found))
        raise
    found = contract.take()
    if found and not _exempt(item):
        raise AssertionError(contract.report(found))
    return result


def _check_engine_message(message: str | bytes) -> None:
    source = "client -> local engine"
    if isinstance(message, bytes):
        contract.record(source, "binary frame", ["<root>: Voice Live takes JSON text frames"], "")
        return
    try:
        event = json.loads(message)
    except ValueError:
        contract.record(source, "frame", ["<root>: not JSON"], message)
        return
    check_client_event(event, source)


def _check_answer(response: httpx.Response) -> None:
    """A webhook's answer, as Twilio would read it: XML must be TwiML twilio-python emits."""
    kind = response.headers.get("content-type", "")
    svg = "svg" in kind  # the console's pictures (image/svg+xml) are not TwiML
    if "xml" in kind and not svg and hasattr(response, "_content"):  # read (not a stream left)
        request = response.request
        check_twiml(response.content, f"answer to {request.method} {request.url.path}", "bot")


@pytest.fixture(autouse=True)
def _contract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Check the local engine's traffic and the bot's TwiML answers to any httpx client (the
    tests' and the fakes' webhook requests); fail on violations that came after the test."""
    from bot.localengine.session import EngineSession

    async_send, sync_send = httpx.AsyncClient.send, httpx.Client.send

    async def checked_async_send(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> Any:
        response = await async_send(self, *args, **kwargs)
        _check_answer(response)
        return response

    def checked_sync_send(self: httpx.Client, *args: Any, **kwargs: Any) -> Any:
        response = sync_send(self, *args, **kwargs)
        _check_answer(response)
        return response

    monkeypatch.setattr(httpx.AsyncClient, "send", checked_async_send)
    monkeypatch.setattr(httpx.Client, "send", checked_sync_send)

    init, handle = EngineSession.__init__, EngineSession.handle

    def checked_init(self: EngineSession, send: Any, **kwargs: Any) -> None:
        async def checked_send(text: str) -> None:  # the server event as it goes on the wire
            check_server_event(json.loads(text), "local engine -> client")
            await send(text)

        init(self, checked_send, **kwargs)

    async def checked_handle(self: EngineSession, message: str | bytes) -> None:
        _check_engine_message(message)
        await handle(self, message)

    monkeypatch.setattr(EngineSession, "__init__", checked_init)
    monkeypatch.setattr(EngineSession, "handle", checked_handle)
    contract.take()
    yield
    found = contract.take()
    if found and not _exempt(request.node):
        pytest.fail(f"after the test: {contract.report(found)}", pytrace=False)


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    """Logging as each test found it: a test that configures it (a CLI's warning level) must
    not hide info lines from the next test's capture_logs, now that the bound logger filters
    by level itself (bot/observability/logs.py)."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
