"""Check military withdrawal claims independently from public satellite imagery."""

__version__ = "0.1.0"
