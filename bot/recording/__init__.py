"""Call recordings (issue 16): both sides in stereo FLAC, written as the call runs, kept in a
directory or in Azure Blob Storage, served with HTTP ranges."""
