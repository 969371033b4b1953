"""Tests of bot/call/: playout and core on a fake clock, and the bridge end to end."""
