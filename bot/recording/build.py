"""The recordings store the settings ask for: Azure Blob Storage or a directory."""

from __future__ import annotations

from bot.config import Settings
from bot.recording.store import RecordingStore


def build_store(settings: Settings) -> RecordingStore:
    """Azure Blob Storage when RECORDINGS_URL or RECORDINGS_CONNECTION_STRING is set, else
    the directory RECORDINGS_DIR."""
    if settings.recordings_url or settings.recordings_connection_string:
        from bot.recording.blob import BlobStore  # azure-storage-blob: only when used

        return BlobStore.from_settings(settings)
    from bot.recording.local import DirStore

    return DirStore(settings.recordings_dir)
