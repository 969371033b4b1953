"""A database outage loses nothing: turns said while PostgreSQL refuses connections are all
stored; a call that ends during one is journaled under DATA_DIR and replayed by the running
service or after a restart; a corrupt journal is set aside; the dialer stays quiet."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from structlog.testing import capture_logs

from bot.call import record as callrecord
from bot.scheduling.dialer import Dialer, DialerConfig, SystemClock
from bot.store import Store, journal
from bot.store import record_writes as recordwrites
from bot.store.journal import Journal
from bot.store.record_writes import Write
from tests.call.test_call_record import metric
from tests.fakes.voicelive import FakeSession, FakeVoiceLive
from tests.support.bridge import bridge, wait_ended
from tests.support.pgproxy import TcpProxy


@dataclass
class Postgres:
    """The bot's database behind a proxy the test cuts; its own schema and application_name."""

    url: str
    proxy: TcpProxy
    admin: Any
    schema: str

    async def go_down(self) -> None:
        """Refuse new connections and end the bot's open sessions."""
        await self.proxy.cut()
        await self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            self.schema,
        )

    async def come_back(self) -> None:
        await self.proxy.start()


@contextlib.asynccontextmanager
async def postgres(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Postgres]:
    raw = os.environ.get("TEST_DATABASE_URL") or None
    if raw is None:
        pytest.skip("TEST_DATABASE_URL is unset: PostgreSQL outage tests skipped")
    import asyncpg

    split = urlsplit(raw)
    proxy = TcpProxy(split.port or 5432, split.hostname or "127.0.0.1")
    await proxy.start()
    user = split.netloc.rsplit("@", 1)[0] + "@" if "@" in split.netloc else ""
    url = split._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(raw)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    opened = Store.open.__func__  # type: ignore[attr-defined]

    async def open_in_schema(cls: type[Store], url: str, **_: Any) -> Store:
        settings = {"search_path": schema, "application_name": schema}
        return await opened(cls, url, connect_args={"server_settings": settings})

    monkeypatch.setattr(Store, "open", classmethod(open_in_schema))
    try:
        yield Postgres(url, proxy, admin, schema)
    finally:
        await proxy.cut()
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            schema,
        )
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries and the end-of-call flush at test speed."""
    monkeypatch.setattr(recordwrites, "RETRY_CAP_S", 0.4)
    monkeypatch.setattr(callrecord, "FLUSH_TIMEOUT_S", 1.0)
    monkeypatch.setattr(journal, "RETRY_CAP_S", 0.4)


async def responses_done(session: FakeSession, n: int) -> None:
    await session.wait_for(
        lambda: len(session.responses) >= n and session.responses[n - 1].done_at is not None,
        timeout=5,
        what=f"response {n} done",
    )


async def metrics_text(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        return (await client.get("/metrics")).text


async def until(predicate: Any, within: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.02)


def journal_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "journal").glob("*.jsonl"))


async def test_every_turn_said_while_postgres_is_down_is_stored_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with postgres(monkeypatch) as pg:
        fake = FakeVoiceLive(transcribe=True, speed=4.0)
        async with bridge(tmp_path, fake, DATABASE_URL=pg.url) as b:
            async with await b.call() as call:
                session = await b.vl.wait_for_session(1)
                await responses_done(session, 1)  # the greeting
                await pg.go_down()
                down_at = time.monotonic()
                async with httpx.AsyncClient(base_url=b.base) as client:
                    ready = await client.get("/readyz")
                ready_s = time.monotonic() - down_at
                for i in range(3):
                    await session.caller_turn(f"answer {i}, said during the outage")
                    await responses_done(session, i + 2)
                await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))
                during = await metrics_text(b.base)
                await pg.come_back()
                await call.hangup()
                await session.closed.wait()
            record = await wait_ended(b.app_state.store, call.call_sid)
            after = await metrics_text(b.base)
    assert ready.status_code == 503 and ready.json()["reason"].startswith("database unreachable")
    assert ready_s < 1.0, f"/readyz took {ready_s:.2f} s with the database refusing"
    assert metric(during, "bot_record_writes_pending") >= 6  # 3 caller + 3 bot turns waited
    assert metric(after, "bot_record_write_retries_total") >= 2
    assert metric(after, "bot_record_writes_pending") == 0
    assert record["status"] == "completed"
    turns = [(t["speaker"], t["text"]) for t in record["transcript"]]
    said = [r.transcript_sent for r in session.responses[1:4]]
    assert turns[1:] == [
        ("caller", "answer 0, said during the outage"), ("bot", said[0]),
        ("caller", "answer 1, said during the outage"), ("bot", said[1]),
        ("caller", "answer 2, said during the outage"), ("bot", said[2]),
    ]  # fmt: skip
    assert turns[0][0] == "bot"  # the greeting, written before the outage, once


async def _call_ending_during_an_outage(b: Any, pg: Postgres) -> tuple[str, list[Path]]:
    """A call whose database goes away; the caller answers and hangs up while it is down."""
    async with await b.call() as call:
        session = await b.vl.wait_for_session(1)
        await responses_done(session, 1)
        await pg.go_down()
        await session.caller_turn("my answer, said during the outage")
        await responses_done(session, 2)
        await call.hangup()
        await session.closed.wait()
    await until(lambda: journal_files(b.settings.data_dir), what="journal file")
    return call.call_sid, journal_files(b.settings.data_dir)


def check_journal(path: Path, call_sid: str) -> list[dict[str, Any]]:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["call_sid"] for line in lines} == {call_sid}
    ops = [line["op"] for line in lines]
    assert ops[-1] == "call_ended" and "add_turn" in ops
    turn = next(line for line in lines if line["op"] == "add_turn")
    assert datetime.fromisoformat(turn["fields"]["at"]).tzinfo is not None
    return lines


async def test_a_call_ending_during_the_outage_is_journaled_and_replayed_when_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with postgres(monkeypatch) as pg:
        fake = FakeVoiceLive(transcribe=True, speed=4.0)
        async with bridge(tmp_path, fake, DATABASE_URL=pg.url) as b:
            call_sid, files = await _call_ending_during_an_outage(b, pg)
            assert [f.name for f in files] == [f"{call_sid}.jsonl"]
            lines = check_journal(files[0], call_sid)
            text = await metrics_text(b.base)
            assert metric(text, "bot_record_journaled_total") == len(lines)
            assert metric(text, "bot_record_writes_pending") == 0
            await pg.come_back()
            back_at = time.monotonic()
            await until(lambda: not journal_files(b.settings.data_dir), what="replay")
            replayed_s = time.monotonic() - back_at
            record = await b.app_state.store.get_call(call_sid)
    assert replayed_s < 2.0
    assert record["status"] == "completed" and record["end_reason"] == "caller_hung_up"
    turns = [(t["speaker"], t["text"]) for t in record["transcript"]]
    assert turns[1] == ("caller", "my answer, said during the outage")
    assert len(turns) == 3 and turns[2][0] == "bot"


async def test_a_journal_is_replayed_at_start_up_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with postgres(monkeypatch) as pg:
        fake = FakeVoiceLive(transcribe=True, speed=4.0)
        async with bridge(tmp_path, fake, DATABASE_URL=pg.url) as b:
            call_sid, files = await _call_ending_during_an_outage(b, pg)
        assert files[0].exists()  # the service stopped with the database still down
        await pg.come_back()
        async with bridge(tmp_path, FakeVoiceLive(), DATABASE_URL=pg.url) as again:
            await until(lambda: not journal_files(tmp_path), what="replay at start-up")
            record = await again.app_state.store.get_call(call_sid)
    assert record["status"] == "completed"
    assert [t["speaker"] for t in record["transcript"]] == ["bot", "caller", "bot"]


def _writes(call_sid: str) -> list[Write]:
    t0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    fields = {"direction": "inbound", "from_masked": "+1******0142", "to_masked": None,
              "instance": "replica-a"}  # fmt: skip
    turns = []
    for i, speaker in enumerate(["bot", "caller", "bot"]):
        turn = {"speaker": speaker, "text": f"turn {i}", "interrupted": False,
                "at": t0 + timedelta(seconds=i), "offset_ms": 1000.0 * i}  # fmt: skip
        turns.append(Write("add_turn", call_sid, turn))
    ended = {"status": "completed", "end_reason": "caller_hung_up", "turns": 2,
             "ended_at": t0 + timedelta(seconds=5)}  # fmt: skip
    return [
        Write("call_started", call_sid, {"started_at": t0, **fields}),
        *turns,
        Write("call_ended", call_sid, ended),
    ]


async def test_a_journal_replayed_twice_adds_nothing_twice_and_a_corrupt_one_is_set_aside(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "journal"
    saved = Journal(directory)
    saved.save("CAgood", _writes("CAgood"))
    saved.save("CAgood", _writes("CAgood")[1:3])  # the same turns again, as after a retry
    directory.joinpath("CAbad.jsonl").write_text('{"op": "add_turn", "call_sid": "CAbad"\n')
    directory.joinpath("CAodd.jsonl").write_text('{"op": "drop_table", "call_sid": "x"}\n')
    with capture_logs() as logs:
        async with bridge(tmp_path) as b:
            await until(lambda: not journal_files(tmp_path), what="replay at start-up")
            record = await b.app_state.store.get_call("CAgood")
            async with httpx.AsyncClient(base_url=b.base) as client:
                assert (await client.get("/healthz")).status_code == 200
    assert [t["text"] for t in record["transcript"]] == ["turn 0", "turn 1", "turn 2"]
    assert record["status"] == "completed" and record["turns"] == 2
    assert sorted(p.name for p in directory.iterdir()) == ["CAbad.jsonl.bad", "CAodd.jsonl.bad"]
    bad = [e for e in logs if e["event"] == "record.journal_bad"]
    assert len(bad) == 2 and all(e["log_level"] == "error" for e in bad)
    assert len([e for e in logs if e["event"] == "record.journal_replayed"]) == 2


class DownStore:
    """An interview store whose database refuses connections while `down`."""

    def __init__(self) -> None:
        self.down = True
        self.tries = 0

    def _answer(self) -> None:
        self.tries += 1
        if self.down:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def recover_stale(self, _after_s: float) -> int:
        self._answer()
        return 0

    async def claim_due(self, _instance: str, _n: int) -> list[Any]:
        self._answer()
        return []


async def test_the_dialer_backs_off_quietly_while_the_database_is_down() -> None:
    store = DownStore()
    config = DialerConfig("http://127.0.0.1:9", "+15005550006", poll_s=0.05)
    dialer = Dialer(store, None, config, instance="d", clock=SystemClock())  # type: ignore[arg-type]
    with capture_logs() as logs:
        dialer.start()
        await asyncio.sleep(1.5)
        tries_down = store.tries
        store.down = False
        await until(lambda: any(e["event"] == "dialer.db_available" for e in logs), within=3)
        await dialer.stop()
    loud = [e for e in logs if e["log_level"] in ("warning", "error")]
    assert [e["event"] for e in loud] == ["dialer.db_unavailable"]  # once, not every second
    assert tries_down <= 8, f"{tries_down} tries in 1.5 s: not backing off"
    assert [e["event"] for e in logs if e["log_level"] == "info"] == ["dialer.db_available"]


def test_what_counts_as_the_database_being_unavailable() -> None:
    import asyncpg
    import sqlalchemy.exc as sa_exc

    from bot.store import UnknownCall

    closed = RuntimeError("connection was closed in the middle of operation")
    closed.__cause__ = asyncpg.exceptions.ConnectionDoesNotExistError("closed")
    for down in (
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),  # pg_terminate_backend
        sa_exc.DBAPIError("SELECT 1", {}, closed),  # as SQLAlchemy wraps it
        sa_exc.OperationalError("INSERT", {}, Exception("attempt to write a readonly database")),
    ):
        assert recordwrites.unavailable(down), down
    for bug in (UnknownCall("CA1"), ValueError("speaker"), sa_exc.IntegrityError("", {}, None)):
        assert not recordwrites.unavailable(bug), bug  # would fail again: logged, not retried


class FlakyStore:
    """A call store that refuses connections while `down` and keeps what it was given."""

    def __init__(self) -> None:
        self.down = False
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, op: str) -> Any:
        async def write(*args: Any, **fields: Any) -> None:
            if self.down:
                raise ConnectionRefusedError(111, "Connect call failed")
            self.writes.append((op, fields))

        return write


async def test_the_recorder_keeps_writes_in_order_until_the_store_answers() -> None:
    from bot.cost import Prices
    from bot.observability.metrics import Metrics

    store, metrics = FlakyStore(), Metrics()
    record = callrecord.CallRecorder(
        store,  # type: ignore[arg-type]
        metrics,
        Prices(),
        call_sid="CAflaky",
        heartbeat_s=0.2,  # the outage (0.5 s) is longer: the call is said to be resumed
    )
    with capture_logs() as logs:
        record.start(direction="inbound", from_masked=None, to_masked=None, instance="a")
        await until(lambda: len(store.writes) == 2, what="start written")
        store.down = True
        for i in range(5):
            record.turn("caller", f"turn {i}", time.monotonic())
            await asyncio.sleep(0.1)
        assert metrics.record_writes_pending._value.get() == 5
        store.down = False
        await record.finish("caller_hung_up")
    assert [f.get("text") for op, f in store.writes if op == "add_turn"] == [
        f"turn {i}" for i in range(5)
    ]
    ops = [op for op, _ in store.writes if op != "call_updated"]  # heartbeats aside
    assert ops == ["call_started", "add_turn", "call_resumed", *["add_turn"] * 4, "call_ended"]
    events = [e["event"] for e in logs if e["log_level"] != "debug"]
    assert events.count("record.db_unavailable") == 1 and "record.write_failed" not in events
    assert events.count("record.db_available") == 1
    assert metrics.record_writes_pending._value.get() == 0
