"""Settings: the frozen settings tree and its loader."""
