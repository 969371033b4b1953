"""Tests of bot/interview/."""
