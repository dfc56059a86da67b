"""Helpers that fetch and run external tools (helm, hadolint) for the tests."""
