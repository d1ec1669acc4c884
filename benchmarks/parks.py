"""Mission test set: vehicle parks put into one date of real pairs; recall by size, false alarms.

    .venv/bin/python benchmarks/parks.py [--pairs demo,oscd] [--detectors cva,index,irmad]
        [--trials 3]

For each real pair (the Rennes demo pair in the project; the 7 OSCD pairs in ../shared/data/oscd
when present) and each trial, parks of 0.25, 0.5, 1, 2, 5, 10 and 20 ha (pipeline/parks.py) are put
into the AFTER image at random, well separated places on open land (NDVI > 0.35 on both
dates: fields, meadows, clearings; not roofs and roads), and the detector runs exactly as
`pipeline compare` does. A park counts as found when detected regions cover at least a third of
its footprint. False alarms are the regions found on the untouched pair, per 100 km² compared: an
upper bound, since real change (new buildings, harvests) counts too. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio

from pipeline.detect.core import detect_change
from pipeline.model import image, radiometry
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.workflows.compare import _geographic_pixel_area
from tests.support.parks import insert_park

ROOT = Path(__file__).resolve().parent.parent


SIZES_HA = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
FOUND_SHARE = 1 / 3
DEMO = ROOT / "examples" / "demo-catalog"
OSCD = ROOT.parent / "shared" / "data" / "oscd"
BANDS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}

Pair = tuple[str, Prepared, Prepared, float]


def demo_pair() -> Pair:
    """The Rennes pair of the demo catalogue (10 m bands), and its pixel area in m²."""
    images = []
    for item in ("OSCD_rennes_20150821_L1C", "OSCD_rennes_20170621_L1C"):
        bands = {}
        for name, band in BANDS.items():
            with rasterio.open(DEMO / item / f"{band}.tif") as src:
                bands[name] = radiometry.s2_reflectance(src.read(1), 0.0)
                grid = Grid(src.crs, src.transform, src.width, src.height)
        images.append(image.finish(bands, None, None))
    return "demo-rennes", images[0], images[1], _geographic_pixel_area(grid)


def oscd_pairs(oscd: Path = OSCD) -> Iterator[Pair]:
    from benchmarks.oscd import CITIES, load_city

    for city in CITIES:
        before, after, _truth, area = load_city(city, oscd)
        yield f"oscd-{city}", before, after, area


def place(
    shape: tuple[int, int], valid: np.ndarray, pixel_m: float, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Centres for one park of each size, apart from each other and from the edges."""
    radius = [np.sqrt(ha * 10_000 * 2.2) / 2 / pixel_m for ha in SIZES_HA]
    centres: list[tuple[int, int]] = []
    for r in sorted(range(len(SIZES_HA)), key=lambda i: -radius[i]):
        margin = int(radius[r]) + 2
        for _ in range(2000):
            c = (
                int(rng.integers(margin, shape[0] - margin)),
                int(rng.integers(margin, shape[1] - margin)),
            )
            if not valid[c]:
                continue
            if all(
                np.hypot(c[0] - o[0], c[1] - o[1]) > radius[r] + radius[j] + 8
                for j, o in zip(
                    sorted(range(len(SIZES_HA)), key=lambda i: -radius[i]), centres, strict=False
                )
            ):
                centres.append(c)
                break
        else:
            raise RuntimeError(f"no room for a {SIZES_HA[r]} ha park in a {shape} image")
    order = sorted(range(len(SIZES_HA)), key=lambda i: -radius[i])
    out: list[tuple[int, int]] = [(0, 0)] * len(SIZES_HA)
    for i, c in zip(order, centres, strict=True):
        out[i] = c
    return out


def _open_land(before: Prepared, after: Prepared) -> np.ndarray:
    """Where a park would be put: fields, meadows, clearings (NDVI > 0.35 on both dates), not
    roofs and roads."""
    ok = before.clear & after.clear
    for img in (before, after):
        b = img.bands
        with np.errstate(invalid="ignore", divide="ignore"):
            ok &= (b["nir"] - b["red"]) / (b["nir"] + b["red"]) > 0.35
    return ok


def run_pair(
    pair: Pair, detectors: list[str], trials: int, seed: int = 0
) -> dict[str, dict[str, object]]:
    """{detector: {"found": {ha: [bool...]}, "false_regions": n, "compared_km2": km2}}."""
    name, before, after, area = pair
    pixel_m = float(np.sqrt(area))
    out: dict[str, dict[str, object]] = {}
    for det in detectors:
        quiet = detect_change(
            before, after, kind="optical", detector=det, pixel_area_m2=area
        ).change
        found: dict[float, list[bool]] = {ha: [] for ha in SIZES_HA}
        for t in range(trials):
            rng = np.random.default_rng([seed, t, sum(map(ord, name))])
            centres = place(after.clear.shape, _open_land(before, after), pixel_m, rng)
            bands = dict(after.bands)
            masks = []
            for ha, c in zip(SIZES_HA, centres, strict=True):
                bands, m = insert_park(bands, c, ha * 10_000, pixel_m, rng)
                masks.append(m)
            parked = Prepared(bands, after.clear, after.snow, after.has_cloud_mask)
            change = detect_change(
                before, parked, kind="optical", detector=det, pixel_area_m2=area
            ).change
            for ha, m in zip(SIZES_HA, masks, strict=True):
                found[ha].append(bool(change.mask[m].mean() >= FOUND_SHARE))
        out[det] = {
            "found": found,
            "false_regions": len(quiet.regions),
            "compared_km2": float(quiet.valid.sum()) * area / 1e6,
        }
    return out


def summarise(results: list[dict[str, dict[str, object]]], detectors: list[str]) -> dict:
    summary: dict[str, dict[str, object]] = {}
    for det in detectors:
        recall = {}
        for ha in SIZES_HA:
            hits = [h for r in results for h in r[det]["found"][ha]]  # type: ignore[index]
            recall[f"{ha:g}ha"] = float(np.mean(hits)) if hits else float("nan")
        fr = sum(int(r[det]["false_regions"]) for r in results)  # type: ignore[call-overload]
        km2 = sum(float(r[det]["compared_km2"]) for r in results)  # type: ignore[arg-type]
        summary[det] = {
            "recall": recall,
            "false_regions": fr,
            "compared_km2": round(km2, 2),
            "false_per_100km2": round(100 * fr / km2, 2) if km2 else float("nan"),
        }
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="demo,oscd")
    ap.add_argument("--detectors", default="cva,index,irmad")
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    detectors = args.detectors.split(",")
    pairs: list[Pair] = []
    kinds = args.pairs.split(",")
    if "demo" in kinds:
        pairs.append(demo_pair())
    if "oscd" in kinds:
        if OSCD.is_dir():
            pairs.extend(oscd_pairs())
        else:
            print(f"({OSCD} absent: OSCD pairs skipped)")
    results = []
    for pair in pairs:
        r = run_pair(pair, detectors, args.trials)
        results.append(r)
        line = "  ".join(
            f"{d}: {sum(sum(v) for v in r[d]['found'].values())}/"  # type: ignore[attr-defined]
            f"{len(SIZES_HA) * args.trials} found, {r[d]['false_regions']} false"
            for d in detectors
        )
        print(f"{pair[0]:18} {line}")
    summary = summarise(results, detectors)
    print(f"\n{'detector':10} " + " ".join(f"{ha:>6g}" for ha in SIZES_HA) + "   false/100km²")
    for det, s in summary.items():
        rec = s["recall"]
        print(
            f"{det:10} "
            + " ".join(f"{rec[f'{ha:g}ha']:6.2f}" for ha in SIZES_HA)  # type: ignore[index]
            + f"   {s['false_per_100km2']}"
        )
    print(json.dumps({"parks": summary, "pairs": [p[0] for p in pairs], "trials": args.trials}))


if __name__ == "__main__":
    main()
