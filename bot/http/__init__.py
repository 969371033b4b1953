"""The web side: the Starlette app, Twilio webhooks, the code gate, /api/*, health and drain."""
