"""Reliability: crashes, conflicts, outages and hostile input, with real components."""
