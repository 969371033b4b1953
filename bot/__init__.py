"""AI telephone interviewer: Twilio Media Streams bridged to Azure Voice Live."""
