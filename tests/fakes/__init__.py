"""Fake peers (Twilio, Voice Live) written from the vendor references in shared/docs."""
