"""The interview: instructions for the model and the tools it may call."""
