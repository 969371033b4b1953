"""Twilio: Media Streams messages, webhooks and signatures."""
