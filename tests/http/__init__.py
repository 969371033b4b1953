"""Tests of bot/http/."""
