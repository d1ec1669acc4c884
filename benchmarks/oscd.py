"""Detection quality on OSCD labelled pairs, every detector beside a plain baseline, in one run.

    .venv/bin/python -m benchmarks.oscd ../shared/data/oscd [city ...] [--detectors cva,index]

Each detector runs through the one detection core that run, watch and compare use
(pipeline.detect.core.detect_change: co-register, IR-MAD normalise, detect with the detector's
default cut and the 0.5 ha minimum mapping unit). The baseline is the
absolute difference of B02, B03, B04, B08 summed, cut by Otsu. Prints precision, recall, F1 and
Cohen's kappa of the change class per city and pooled over all pixels; the last line is one JSON
object with every figure.

Evaluation only: OSCD labels are CC BY-NC-SA; they are read here, never copied or learned from.
They mark urban change only (new buildings, roads); seasonal vegetation change is "no change".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from skimage.filters import threshold_otsu

from pipeline.detect.core import OPTICAL_NORMALISER, detect_change
from pipeline.detect.detectors import DETECTORS
from pipeline.model import image, radiometry
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.workflows.compare import _geographic_pixel_area

ROOT = Path(__file__).resolve().parent.parent


OSCD = ROOT.parent / "shared" / "data" / "oscd"
BANDS = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir": "B08",
    "swir16": "B11",
    "swir22": "B12",
}
CITIES = ("aguasclaras", "bercy", "bordeaux", "nantes", "paris", "pisa", "rennes")
OPTICAL = tuple(k for k in DETECTORS if k != "s1-logratio")


def load_city(city: str, oscd: Path = OSCD) -> tuple[Prepared, Prepared, np.ndarray, float]:
    """(before, after, truth, pixel area m²) on the 10 m grid of imgs_1, cropped to the common
    size. 20 m bands are resampled bilinearly onto the 10 m grid."""
    with rasterio.open(next((oscd / "labels" / city / "cm").glob("*-cm.tif"))) as src:
        truth = src.read(1) == 2
    images = []
    area = 100.0
    for part in ("imgs_1", "imgs_2"):
        ref = next((oscd / "images" / city / part).glob("*_B02.tif"))
        with rasterio.open(ref) as src:
            shape = src.shape
            if part == "imgs_1":
                grid = Grid(src.crs, src.transform, src.width, src.height)
                area = (
                    _geographic_pixel_area(grid)
                    if src.crs.is_geographic
                    else abs(src.transform.a * src.transform.e)
                )
        raw = {}
        for name, band in BANDS.items():
            with rasterio.open(next((oscd / "images" / city / part).glob(f"*_{band}.tif"))) as src:
                raw[name] = src.read(1, out_shape=shape, resampling=Resampling.bilinear)
        images.append(raw)
    h = min(truth.shape[0], *(v.shape[0] for im in images for v in im.values()))
    w = min(truth.shape[1], *(v.shape[1] for im in images for v in im.values()))
    truth = truth[:h, :w]
    prepared = [
        image.finish(
            {k: radiometry.s2_reflectance(v[:h, :w], 0.0) for k, v in im.items()}, None, None
        )
        for im in images
    ]
    return prepared[0], prepared[1], truth, area


def baseline_mask(before: Prepared, after: Prepared) -> np.ndarray:
    """Plain baseline: sum of |after - before| over B02, B03, B04, B08, cut by Otsu."""
    d = sum(np.abs(after.bands[k] - before.bands[k]) for k in ("blue", "green", "red", "nir"))
    d = np.nan_to_num(np.asarray(d, np.float32))
    return d > threshold_otsu(d)


def counts(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "tp": float((pred & truth).sum()),
        "fp": float((pred & ~truth).sum()),
        "fn": float((~pred & truth).sum()),
        "tn": float((~pred & ~truth).sum()),
    }


def scores(c: dict[str, float]) -> dict[str, float]:
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    n = tp + fp + fn + tn
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    po = (tp + tn) / n if n else 0.0
    pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n) if n else 0.0
    kappa = (po - pe) / (1 - pe) if pe < 1 else 0.0
    return {"precision": p, "recall": r, "f1": f1, "kappa": kappa}


def evaluate(
    oscd: Path,
    cities: list[str],
    detectors: list[str],
    out=print,  # noqa: ANN001
) -> dict[str, dict[str, dict[str, float]]]:
    """{method: {city or 'pooled': {precision, recall, f1, kappa, seconds}}}."""
    methods = ["baseline", *detectors]
    pooled = {m: {"tp": 0.0, "fp": 0.0, "fn": 0.0, "tn": 0.0} for m in methods}
    result: dict[str, dict[str, dict[str, float]]] = {m: {} for m in methods}
    for city in cities:
        before, after, truth, area = load_city(city, oscd)
        for m in methods:
            t0 = time.perf_counter()
            if m == "baseline":
                pred = baseline_mask(before, after)
            else:
                pred = detect_change(
                    before, after, kind="optical", detector=m, pixel_area_m2=area
                ).change.mask
            secs = time.perf_counter() - t0
            c = counts(pred, truth)
            for k in c:
                pooled[m][k] += c[k]
            result[m][city] = {**scores(c), "seconds": secs}
    for m in methods:
        result[m]["pooled"] = scores(pooled[m])
    _print_table(result, cities, out)
    return result


def _print_table(result: dict, cities: list[str], out) -> None:  # noqa: ANN001
    for m, per in result.items():
        out(f"\n{m}")
        out(f"  {'city':12} {'precision':>9} {'recall':>7} {'F1':>6} {'kappa':>6}")
        for city in [*cities, "pooled"]:
            s = per[city]
            out(
                f"  {city:12} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} "
                f"{s['kappa']:6.3f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=str(OSCD))
    ap.add_argument("cities", nargs="*")
    ap.add_argument("--detectors", default=",".join(OPTICAL))
    args = ap.parse_args()
    data = Path(args.data_dir)
    if not (data / "labels").is_dir():
        sys.exit(f"{data}: not OSCD-format data (needs images/ and labels/); see ../shared/data")
    cities = args.cities or [c for c in CITIES if (data / "labels" / c).is_dir()]
    res = evaluate(data, cities, args.detectors.split(","))
    summary = {
        m: {c: {k: round(v, 4) for k, v in s.items()} for c, s in per.items()}
        for m, per in res.items()
    }
    print(json.dumps({"oscd": summary, "cities": cities, "normalise": OPTICAL_NORMALISER}))


if __name__ == "__main__":
    main()
