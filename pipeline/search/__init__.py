"""Catalogue back ends behind one Protocol (STAC API, static, Planetary Computer, Sentinel Hub)."""
