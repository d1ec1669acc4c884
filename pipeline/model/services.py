"""The public addresses of the imagery services that the search back ends (`pipeline.search`)
talk to: plain data, so that a config's `catalog:` block (`pipeline.config.catalog`) defaults to
them without importing a back end."""

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
CDSE_SENTINEL_HUB = "https://sh.dataspace.copernicus.eu"
DEFAULT_URLS = {
    "stac-api": EARTH_SEARCH,
    "planetary-computer": PLANETARY_COMPUTER,
    "sentinelhub": CDSE_SENTINEL_HUB,
}
"""The address a one-service catalogue (`kind: stac-api`, ...) uses when its `url:` is left out."""
AUTO_URLS = {"earth-search": EARTH_SEARCH, "planetary-computer": PLANETARY_COMPUTER}
"""The services `kind: auto` routes to (pipeline.search.routed), at their public addresses."""
