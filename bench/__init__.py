"""Benchmarks of list export against the bundled portal emulator (not tests; see bench/RESULTS.md)."""
