"""Tests of bot/softphone/."""
