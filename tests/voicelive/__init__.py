"""Tests of bot/voicelive/."""
