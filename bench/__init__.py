"""Benchmarks (`make bench`): timings live here, never in tests."""
