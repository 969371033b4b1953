"""Tests of bot/twilio/."""
