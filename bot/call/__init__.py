"""One call: the sans-I/O core that decides, the shell that does the I/O, and the playout."""
