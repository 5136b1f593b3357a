"""Benchmarks: run each bench_*.py as a script (make bench)."""
