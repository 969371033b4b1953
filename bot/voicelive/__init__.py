"""Azure Voice Live: realtime events and the WebSocket client."""
