"""The call's pacing, time limits and retry pauses (what the core waits for, and how long)."""

FRAMES_PER_MESSAGE = 5  # 100 ms of audio per media message, each followed by a mark
GOODBYE_GRACE_S = 5.0  # after end_interview, how long past the expected playout we wait
WRAP_UP_TIMEOUT_S = 45.0  # from wrap_up to hang-up at the latest, closing line played or not
RESPONSE_GRACE_S = 8.0  # at wrap-up, a response in flight may finish this long before the cut
CLOSING_GRACE_S = 5.0  # after the closing line's response.done, how long past its playout we wait
# A failed response (rate limit, server error) is asked for again after these pauses; from the
# second failure in a row the caller hears the profile's holding line first. When the model has
# produced no audio for MODEL_FAILED_S since the first failure, the call ends with the apology.
RETRY_S = (0.3, 0.8, 1.5, 2.0)
MODEL_FAILED_S = 10.0
TIME_LIMIT_CAP_S = WRAP_UP_TIMEOUT_S + 1.0  # after the time limit, the call ends by then anyway
RESUME_NOTE = (
    "The phone connection was briefly interrupted. Continue the interview naturally from "
    "where it stopped; if you were cut off, briefly repeat your last point or question."
)
