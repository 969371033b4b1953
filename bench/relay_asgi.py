"""The echo relay on the bot's own stack (uvicorn, websockets-sansio, uvloop, Starlette): the
same trivial relay as `bench.bridge_load relay`, so the two baselines part what the server
stack costs from what the bot's own work costs."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from bench.bridge_load import relay_call


def app_for(vl_port: int) -> Starlette:
    async def media(tw: WebSocket) -> None:
        await tw.accept()
        await relay_call(tw.receive_text, tw.send_text, vl_port)

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
