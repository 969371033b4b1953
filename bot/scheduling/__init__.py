"""Scheduled outbound interviews: input rules, calling windows, retries, the dialer."""
