"""Sending to and closing a Voice Live session within a deadline, so a dead path cannot hang."""

from __future__ import annotations

import asyncio
import contextlib

from bot.timeouts import within
from bot.voicelive.client import VoiceLiveConnection

SEND_TIMEOUT_S = 2.0  # a send that takes longer means a dead path: the session counts as dropped
CLOSE_TIMEOUT_S = 2.0  # a close handshake not done by then is given up on


async def send_within(conn: VoiceLiveConnection, text: str) -> None:
    """Send one event; TimeoutError if the connection takes longer than SEND_TIMEOUT_S.

    A send waits only when the socket's write buffer is full; while it is not (nearly always),
    the send completes at once and gets no timer: a deadline per send (asyncio.timeout: a
    timer scheduled and cancelled, 3.7 µs) for every 20 ms of caller audio is ~3 % of the
    bridge's CPU (issue 18). Otherwise asyncio.timeout, not wait_for: no task per send.
    """
    if conn.sends_at_once(text):
        await conn.send(text)
        return
    async with asyncio.timeout(SEND_TIMEOUT_S):
        await conn.send(text)


async def close_quietly(conn: VoiceLiveConnection) -> None:
    """Close a session; never raises, never takes longer than CLOSE_TIMEOUT_S."""
    with contextlib.suppress(Exception):
        await within(conn.close(), CLOSE_TIMEOUT_S)
