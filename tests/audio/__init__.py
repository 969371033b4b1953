"""Tests of bot/audio/."""
