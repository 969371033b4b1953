"""The echo relay on the bot's own stack (uvicorn, websockets-sansio, uvloop, Starlette): the
same trivial relay as `bench.bridge_load relay`, so the two baselines part what the server
stack costs from what the bot's own work costs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.bridge_load import relay_to_caller, relay_to_model


def app_for(vl_port: int) -> Starlette:
    vl_url = f"ws://127.0.0.1:{vl_port}/voice-live/realtime?api-version=2026-07-15&model=m"

    async def media(tw: WebSocket) -> None:
        await tw.accept()
        async with connect(
            vl_url, additional_headers={"api-key": "test-key"}, compression=None, max_size=2**24
        ) as vl:
            sid: list[str] = []

            async def up() -> None:
                while True:
                    if (out := relay_to_model(await tw.receive_text(), sid)) is not None:
                        await vl.send(out)

            async def down() -> None:
                async for message in vl:
                    if (out := relay_to_caller(message, sid)) is not None:
                        await tw.send_text(out)

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(ConnectionClosed, WebSocketDisconnect, asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    return Starlette(routes=[WebSocketRoute("/twilio/media", media)])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_asgi")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--vl-port", type=int, required=True)
    args = parser.parse_args(argv)
    # As `bot serve` runs uvicorn (bot/__main__.py): the same protocol and loop choices.
    uvicorn.run(app_for(args.vl_port), host="127.0.0.1", port=args.port, log_level="warning",
                ws="websockets-sansio", loop="auto", lifespan="off", ws_ping_interval=None,
                access_log=False)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
