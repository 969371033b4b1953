"""The web console under /console: live calls, the call log, timelines, interviews, usage."""
