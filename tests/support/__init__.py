"""Helpers for tests and benchmarks (park insertion)."""
