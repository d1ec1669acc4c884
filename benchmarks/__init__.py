"""Benchmarks, run as modules: `.venv/bin/python -m benchmarks.NAME`."""

import pipeline  # noqa: F401  (first: its thread policy must be set before numpy loads)
