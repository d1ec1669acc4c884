"""Names the dead-code check (`make lint`: vulture over pipeline, benchmarks, scripts, notebooks)
takes as used because something outside the Python call graph uses them. Never executed.

Add a name here only for such a use, with the reason; code that nothing uses (or only tests use)
is deleted instead. Pydantic validators are skipped by decorator (`--ignore-decorators`).
"""

# ruff: noqa: B018, F821

# Signal handlers: Python calls them with (signum, frame).
signum
frame

# Pydantic reads a model's configuration from this class attribute.
model_config

# Module attributes that Python itself calls or reads: PEP 562's module `__getattr__` (lazy
# classes in pipeline.search.stac, pipeline.net.http) and the qualified name of a class built in
# a function.
__getattr__
__qualname__

# Attributes set on library objects, read by the library.
writeable  # numpy: ndarray.flags.writeable = False (a cached array is read-only)
row_factory  # sqlite3.Connection
colorinterp  # rasterio dataset: colour interpretation of the class raster
scales  # rasterio dataset: band scale factors
sh_base_url  # sentinelhub.SHConfig, the client's settings
sh_token_url
max_download_attempts
download_sleep_time
download_timeout_seconds
max_retries

# Fields of report.json (pipeline.write.report's pydantic models dump them; nothing reads them
# back in Python).
buildup_approach
regions_by_direction
against_baseline
against_history

# The park model's record of where each vehicle stands (metres from the grid's corner): kept with
# the model so a drawn park can be inspected and re-drawn, read by no benchmark figure.
x_m
y_m

# The disk cache's counters and the prune's tally: what the cache did, read by the tests that check
# it (damaged entries discarded, entries in use kept) and by anyone debugging a cache.
misses
discarded
kept_in_use
