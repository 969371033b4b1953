"""Recordings in Azure Blob Storage: block blobs committed every few seconds while a call runs."""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobClient, ContainerClient, ContentSettings

from bot.recording.recorder import RecordingInfo
from bot.recording.repair import repair
from bot.recording.store import CHUNK, CONTENT_TYPE, checked_sid

if TYPE_CHECKING:
    from bot.config import Settings

UPLOAD_S = 5.0  # staged and committed this often: a crash loses at most this (and a flush)
STALE_S = 60.0  # a blob still "recording" not committed for this long was left by a crash
TIMEOUTS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 30}
_HEADER = "header00"  # the first block again, once the encoder rewrote the FLAC header


def _block_id(name: str) -> str:
    return base64.b64encode(name.encode()).decode()


class BlobSink:
    """The encoder writes a local spool file; what it adds is staged as a block and the list
    committed every UPLOAD_S, so the blob holds the call up to then. At the end the first
    block is staged again (the encoder rewrites the header, inside it) and all is committed."""

    def __init__(self, store: BlobStore, call_sid: str) -> None:
        self.store = store
        self.call_sid = call_sid
        self.path = store.spool / f"{call_sid}.flac"
        self.blob: BlobClient = store.container.get_blob_client(f"{call_sid}.flac")
        self.blocks: list[str] = []
        self.uploaded = 0
        self.head = 0  # bytes in the first block
        self.uploaded_at = time.monotonic()
        store.live.add(call_sid)

    def _stage_new(self) -> None:
        self.store.ensure_container()
        size = self.path.stat().st_size
        if size <= self.uploaded:
            return
        with open(self.path, "rb") as f:
            f.seek(self.uploaded)
            data = f.read(size - self.uploaded)
        block = _block_id(f"b{len(self.blocks):07d}")
        self.blob.stage_block(block, data)
        self.blocks.append(block)
        self.head = self.head or len(data)
        self.uploaded += len(data)

    def _commit(self, blocks: list[str], **metadata: str) -> None:
        self.blob.commit_block_list(
            [BlobBlock(b) for b in blocks],
            metadata=metadata,
            content_settings=ContentSettings(content_type=CONTENT_TYPE),
        )

    def flushed(self) -> None:
        if time.monotonic() - self.uploaded_at < UPLOAD_S:
            return
        self.uploaded_at = time.monotonic()
        self._stage_new()
        if self.blocks:
            self._commit(self.blocks, state="recording")

    def finished(self, info: RecordingInfo) -> None:
        self._stage_new()
        with open(self.path, "rb") as f:
            header = f.read(self.head)
        self.blob.stage_block(_block_id(_HEADER), header)
        meta = {"state": "complete", "duration_s": f"{info.duration_s or 0:.3f}"}
        self._commit([_block_id(_HEADER), *self.blocks[1:]], **meta)
        self.path.unlink(missing_ok=True)
        self.store.live.discard(self.call_sid)

    def discard(self) -> None:
        try:
            self.blob.delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            pass
        self.path.unlink(missing_ok=True)
        self.store.live.discard(self.call_sid)


class BlobStore:
    """One container; a blob `<CallSid>.flac` per call, metadata state (recording|complete)
    and duration_s."""

    kind = "blob"

    def __init__(self, container: ContainerClient, spool: Path, create: bool = False) -> None:
        self.container = container
        self.spool = spool
        self.live: set[str] = set()
        self.create = create  # make the container on first use (in Azure the Bicep made it)

    def ensure_container(self) -> None:
        """Create the container once, if asked to (on a recording's thread, never the loop)."""
        if self.create:
            try:
                self.container.create_container()
            except ResourceExistsError:
                pass
            self.create = False

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        """RECORDINGS_URL with a managed identity (production), or a connection string with
        an account key (RECORDINGS_CONNECTION_STRING: Azurite, development)."""
        name = "recordings"
        if settings.recordings_url:
            name = urlsplit(settings.recordings_url).path.strip("/") or name
        spool = settings.data_dir / "recordings-spool"
        if settings.recordings_connection_string:
            container = ContainerClient.from_connection_string(
                settings.recordings_connection_string, name, **TIMEOUTS
            )
            return cls(container, spool, create=True)  # Azurite starts empty
        from azure.identity import DefaultAzureCredential

        assert settings.recordings_url is not None
        split = urlsplit(settings.recordings_url)
        credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
        container = ContainerClient(f"{split.scheme}://{split.netloc}", name,
                                    credential=credential, **TIMEOUTS)  # fmt: skip
        return cls(container, spool)

    def sink(self, call_sid: str) -> BlobSink:
        return BlobSink(self, checked_sid(call_sid))

    def _blob(self, call_sid: str) -> BlobClient:
        return self.container.get_blob_client(f"{checked_sid(call_sid)}.flac")

    def _repair(self, blob: BlobClient) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.flac", Path(tmp) / "out.flac"
            with open(src, "wb") as f:
                blob.download_blob().readinto(f)
            seconds = repair(src, dst)
            meta = {"state": "complete", "duration_s": f"{seconds:.3f}"}
            settings = ContentSettings(content_type=CONTENT_TYPE)
            with open(dst, "rb") as f:
                blob.upload_blob(f, overwrite=True, metadata=meta, content_settings=settings)

    def _stat(self, call_sid: str) -> RecordingInfo | None:
        blob = self._blob(call_sid)
        try:
            props = blob.get_blob_properties()
        except ResourceNotFoundError:
            return None
        meta = props.metadata or {}
        if meta.get("state") == "recording":
            age = time.time() - props.last_modified.timestamp()
            if call_sid in self.live or age < STALE_S:
                return RecordingInfo(props.size, None, complete=False)
            self._repair(blob)  # a crash left it: made whole once
            props = blob.get_blob_properties()
            meta = props.metadata or {}
        duration = meta.get("duration_s")
        return RecordingInfo(props.size, float(duration) if duration else None)

    async def stat(self, call_sid: str) -> RecordingInfo | None:
        return await asyncio.to_thread(self._stat, call_sid)

    async def read(self, call_sid: str, start: int, end: int) -> AsyncIterator[bytes]:
        blob = self._blob(call_sid)
        stream = await asyncio.to_thread(blob.download_blob, offset=start,
                                         length=end - start + 1, max_concurrency=1)  # fmt: skip
        chunks = stream.chunks()
        while True:
            data = await asyncio.to_thread(next, chunks, b"")
            if not data:
                return
            for i in range(0, len(data), CHUNK):
                yield data[i : i + CHUNK]

    def _delete(self, call_sid: str) -> bool:
        (self.spool / f"{checked_sid(call_sid)}.flac").unlink(missing_ok=True)
        try:
            self._blob(call_sid).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            return False
        return True

    async def delete(self, call_sid: str) -> bool:
        return await asyncio.to_thread(self._delete, call_sid)
