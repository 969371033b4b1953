"""Tests for the interview bot."""
