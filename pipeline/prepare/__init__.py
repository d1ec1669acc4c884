"""Co-registration, radiometric normalisation, composites. Pure."""
