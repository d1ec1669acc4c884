"""The outside world's plumbing: one HTTP session, GDAL settings, the disk cache, redaction."""
