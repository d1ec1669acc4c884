"""Reading scenes onto a site grid: optical, radar (GRD calibration), through the cache."""
