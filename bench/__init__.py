"""Benchmarks: ``python -m bench.<name>``; each prints its figures next to a baseline."""
