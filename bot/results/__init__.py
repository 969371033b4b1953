"""The results webhook: signed events from the outbox, delivered by one worker per replica."""
