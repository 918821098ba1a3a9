"""aiosock's benchmarks: echo servers measured against each other in one run."""
