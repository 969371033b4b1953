"""Tests of bot/scheduling/."""
