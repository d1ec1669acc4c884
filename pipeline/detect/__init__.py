"""Detectors and the one core that turns prepared images into change. Pure."""
