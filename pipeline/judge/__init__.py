"""Verdict rules. Pure."""
