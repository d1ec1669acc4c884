"""Outputs: COG, GeoJSON, pictures, reports, atomic output folders."""
