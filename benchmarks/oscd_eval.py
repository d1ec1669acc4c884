"""Detection quality and speed on the OSCD labelled pairs (../shared/data/oscd).

Evaluation only: the labels are CC BY-NC-SA; they are read here, never copied or learned from.
The detector's threshold is fixed a priori (3 noise sigmas), not tuned on these labels.

    .venv/bin/python benchmarks/oscd_eval.py [--threshold 3.0] [--cities rennes,paris]

Prints precision, recall, F1 and IoU of the change class per city, overall (pixel-pooled), and the
time detect() takes. OSCD labels urban change only; seasonal vegetation change counts as "no
change" there, so precision is a lower bound for what this tool is asked to find.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import prepare  # noqa: E402
from pipeline.detect import detect  # noqa: E402

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


def load_city(
    city: str, oscd: Path = OSCD
) -> tuple[prepare.Prepared, prepare.Prepared, np.ndarray]:
    """(before, after, truth) on the 10 m grid of imgs_1, cropped to the common size."""
    with rasterio.open(next((oscd / "labels" / city / "cm").glob("*-cm.tif"))) as src:
        truth = src.read(1) == 2
    images = []
    for part in ("imgs_1", "imgs_2"):
        ref = next((oscd / "images" / city / part).glob("*_B02.tif"))
        with rasterio.open(ref) as src:
            shape = src.shape
        raw = {}
        for name, band in BANDS.items():
            with rasterio.open(next((oscd / "images" / city / part).glob(f"*_{band}.tif"))) as src:
                raw[name] = src.read(1, out_shape=shape, resampling=Resampling.bilinear)
        images.append(raw)
    h = min(truth.shape[0], *(v.shape[0] for im in images for v in im.values()))
    w = min(truth.shape[1], *(v.shape[1] for im in images for v in im.values()))
    truth = truth[:h, :w]
    prepared = [
        prepare.finish(
            {k: prepare.s2_reflectance(v[:h, :w], 0.0) for k, v in im.items()}, None, None
        )
        for im in images
    ]
    return prepared[0], prepared[1], truth


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = float((pred & truth).sum())
    fp = float((pred & ~truth).sum())
    fn = float((~pred & truth).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    iou = tp / (tp + fp + fn) if tp + fp + fn else 0.0
    return {"precision": p, "recall": r, "f1": f1, "iou": iou, "tp": tp, "fp": fp, "fn": fn}


def evaluate(city: str, threshold: float) -> tuple[dict[str, float], float]:
    before, after, truth = load_city(city)
    t0 = time.perf_counter()
    before, after = prepare.align_pair(before, after)
    change = detect(before, after, threshold=threshold)
    elapsed = time.perf_counter() - t0
    return scores(change.mask, truth), elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=3.0)
    ap.add_argument("--cities", default=",".join(CITIES))
    args = ap.parse_args()
    if not OSCD.is_dir():
        sys.exit(f"needs {OSCD} (the shared data folder beside the project)")
    total = {"tp": 0.0, "fp": 0.0, "fn": 0.0}
    print(f"threshold {args.threshold:g} noise sigmas")
    print(f"{'city':12} {'precision':>9} {'recall':>7} {'F1':>6} {'IoU':>6} {'ms':>6}")
    for city in args.cities.split(","):
        s, t = evaluate(city, args.threshold)
        for k in total:
            total[k] += s[k]
        print(
            f"{city:12} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} {s['iou']:6.3f} "
            f"{t * 1000:6.0f}"
        )
    tp, fp, fn = total["tp"], total["fp"], total["fn"]
    p, r = tp / (tp + fp), tp / (tp + fn)
    print(f"{'pooled':12} {p:9.3f} {r:7.3f} {2 * p * r / (p + r):6.3f} {tp / (tp + fp + fn):6.3f}")


if __name__ == "__main__":
    main()
