"""The commands ops run: `bot calls`, `bot schedule` / `bot interviews`, `bot doctor`."""
