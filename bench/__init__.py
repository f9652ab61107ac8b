"""Benchmarks of the retrieve-and-cleanse path (``make bench``). Measured, never asserted."""
