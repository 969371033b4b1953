"""Tests of bot/localengine/."""
