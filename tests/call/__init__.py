"""Unit tests of the call: its playout and its sans-I/O core, with a fake clock."""
