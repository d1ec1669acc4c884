# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Walkthrough: one claim, step by step
#
# The same steps `make run AOI=demo` takes, one at a time, on the offline demo catalogue
# (a real Sentinel-2 pair over Rennes). Swap `demo` for `rostov` with internet to do it live.
# Open with `jupytext --to notebook notebooks/walkthrough.py`, or run it as a script; the test
# suite runs it.

# %%
import tempfile
from pathlib import Path

from pipeline.config.loading import load
from pipeline.detect.core import detect_change
from pipeline.judge.verdict import judge
from pipeline.model.change import ARRIVAL, DEPARTURE
from pipeline.model.grid import plan_grid
from pipeline.model.sensors import SENSORS
from pipeline.read.scenes import read_scene
from pipeline.search.factory import open_source
from pipeline.workflows.fetch import find_scenes, survey

ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd().parent
cfg = load(ROOT / "configs" / "demo.yaml")
claim, site = cfg.claims[0], cfg.sites[0]
print(claim.statement, "|", site.name, site.bounds())

# %% [markdown]
# ## Plan the grid and search each window

# %%
source = open_source(cfg.catalog.kind, cfg.catalog.url)
grid = plan_grid(site.bounds(), SENSORS[claim.windows.before.sensor].resolution_m)
print(grid.crs, grid.shape, grid.resolution)
images = {}
for name in ("before", "after"):
    window = getattr(claim.windows, name)
    sensor = SENSORS[window.sensor]
    scenes = find_scenes(source, sensor, window, site, cfg.max_cloud)
    candidates, best = survey(scenes, sensor, grid, claim.date)
    chosen = candidates[best]
    print(name, [c.scene.id for c in candidates], "->", chosen.scene.id)
    images[name] = read_scene(chosen.scene, sensor, grid, chosen.masks)

# %% [markdown]
# ## Prepare, detect, judge

# %%
# The one detection core that run, watch and compare use: co-register, IR-MAD normalise, detect.
found = detect_change(
    images["before"], images["after"], kind="optical", detector=cfg.detector,
    pixel_area_m2=grid.resolution**2,
)  # fmt: skip
before, after, change = found.before, found.after, found.change
verdict = judge(
    change, grid.resolution**2, {"before": before.clear_fraction, "after": after.clear_fraction}
)
print(
    f"changed pixels: {change.pixels()} (arrivals {change.pixels(ARRIVAL)}, "
    f"departures {change.pixels(DEPARTURE)}), regions: {len(change.regions)}"
)
print(verdict.verdict, "-", "; ".join(verdict.reasons))

# %% [markdown]
# ## The panel people look at

# %%
from pipeline.write.render import PanelText, panel  # noqa: E402

out = Path(tempfile.mkdtemp()) / "panel.png"
panel(
    out,
    before,
    after,
    change,
    PanelText(
        title=site.name,
        before_label="before",
        after_label="after",
        verdict=str(verdict.verdict),
        reasons=verdict.reasons,
        credit="Contains modified Copernicus Sentinel data 2015, 2017",
        scale_m=grid.resolution,
    ),
)
print("panel:", out, out.stat().st_size, "bytes")
