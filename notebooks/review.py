# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Review a run
#
# Load what `pipeline run` wrote for an AOI, look at the verdicts and the panels, re-threshold a
# site's change map to see how much the verdict's numbers depend on the cut, and list the changed
# regions. Point `REVIEW_RUN` at an AOI output folder (e.g. `outputs/rostov`); without it the
# notebook runs the offline demo into a temporary folder first.
#
# Open with `jupytext --to notebook notebooks/review.py`; the test suite runs it as a script.

# %%
import json
import os
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in os.environ.get("MPLBACKEND", "") and not os.environ.get("JPY_PARENT_PID"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from skimage import measure

from pipeline.cli.main import main as pipeline_cli
from pipeline.detect.detectors import clean_mask
from pipeline.write.export import sha256_file
from pipeline.write.report import RunReport

run_dir = Path(os.environ.get("REVIEW_RUN", ""))
if not (run_dir / "report.json").is_file():
    out = Path(tempfile.mkdtemp(prefix="review-"))
    pipeline_cli(["run", "demo", "--out", str(out)])
    run_dir = out / "demo"
run = RunReport.model_validate_json((run_dir / "report.json").read_text())
print(f"{run.title}: {run.counts}")
for c in run.checks:
    print(f"  {c.report.site.id:24} {c.report.claim.id:32} {c.report.verdict.value}")

# %% [markdown]
# ## Are the files the ones the tool wrote?
# Every file's sha256 is in report.json; a file edited or swapped after the run shows up here.

# %%
for c in run.checks:
    for name, digest in c.files.items():
        ok = sha256_file(run_dir / c.folder / name) == digest
        print(f"{'ok ' if ok else 'CHANGED'} {c.folder}/{name}")

# %% [markdown]
# ## The panels

# %%
for c in run.checks:
    path = run_dir / c.folder / "panel.png"
    if path.is_file():
        fig, ax = plt.subplots(figsize=(15, 6))
        ax.imshow(plt.imread(path))
        ax.axis("off")
        print(f"panel: {path}")
        plt.show()
        plt.close(fig)

# %% [markdown]
# ## Re-threshold a site
# The change map's second band is the score in noise sigmas (stored x10). Cutting it at other
# values shows how robust the changed area is; the verdict used the threshold in the report.


# %%
def rethreshold(check_folder: str, threshold: float, min_pixels: int) -> dict[str, float]:
    """Changed pixels and regions of a check's change map at another threshold."""
    with rasterio.open(run_dir / check_folder / "change.tif") as src:
        klass = src.read(1)
        score = src.read(2).astype(np.float32) * src.scales[1]
    valid = klass != src.nodata
    # The same cleaning as the run: 3x3 opening, then regions under the minimum unit dropped.
    mask = clean_mask(valid & (score > threshold), min_pixels)
    n_regions = int(measure.label(mask, connectivity=2).max())
    return {
        "threshold": threshold,
        "changed_pixels": int(mask.sum()),
        "regions": n_regions,
        "share_of_valid": float(mask.sum() / max(int(valid.sum()), 1)),
    }


check = next(c for c in run.checks if (run_dir / c.folder / "change.tif").is_file())
used = check.report.detection.threshold or 3.0
minimum = check.report.detection.min_region_pixels
for t in (used - 1, used, used + 1, used + 2):
    r = rethreshold(check.folder, t, minimum)
    print(
        f"threshold {t:4.1f}: changed pixels: {r['changed_pixels']:6d} in {r['regions']:4d} "
        f"regions ({r['share_of_valid']:.2%} of the usable site)"
    )

try:  # a slider when running in Jupyter with ipywidgets installed
    from ipywidgets import FloatSlider, interact

    if os.environ.get("JPY_PARENT_PID"):
        interact(
            lambda threshold: rethreshold(check.folder, threshold, minimum),
            threshold=FloatSlider(min=1.0, max=10.0, step=0.5, value=used),
        )
except ImportError:
    pass

# %% [markdown]
# ## The regions, largest first

# %%
fc = json.loads((run_dir / check.folder / "regions.geojson").read_text())
for f in fc["features"][:10]:
    p = f["properties"]
    lon, lat = p["centroid_lonlat"]
    print(
        f"region {p['region']:4d} {p['direction']:12} {p['area_m2'] / 10000:6.2f} ha "
        f"mean score {p['mean_score']:5.1f}  at {lat:.5f} N {lon:.5f} E"
    )
print(f"{len(fc['features'])} regions in {check.folder}/regions.geojson")
