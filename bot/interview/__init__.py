"""The interview: profiles, the model's instructions and tools, keys, the code gate, the report."""
