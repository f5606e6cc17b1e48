"""Helpers for the demo, the tests and the benchmarks (not used by the runtime)."""
