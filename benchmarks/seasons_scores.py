"""Why optical farmland is hard: how well each per-pixel score separates parks from farmland.

    .venv/bin/python -m benchmarks.seasons_scores

The same real Sentinel-2 series, test dates and parks as `benchmarks.seasons` (same seed, same
placement). Instead of each detector's own cut, every score is cut at the quantile that flags a
given share of the farmland pixels the park did not touch (2 % and 0.5 %, pooled over a series),
and a park of >= 1 ha counts as found when a third of its footprint is above that cut (no
opening, no regions: an upper bound for what any cut on that score can do). Scores:

* `cva`: the two-date change-vector magnitude against the previous clear date after IR-MAD
  normalisation (what `pipeline compare` scores);
* `nearest`: distance of the test to the pixel's nearest reference date, in site noise units
  (the novelty of the `hybrid` reference-period detector);
* `analogue`: each pixel predicted from the `K` pixels with the most similar reference year
  (RMS over bands, NDVI and bare index, each date), outside a `EXCLUDE_M` box around it so that
  a park does not predict itself: the median of their test values; the score is the RMS of the
  residual in site noise units. Memory grows with the square of the site's pixels, so this is
  an analysis, not a detector of the product.

Then, on the candidate regions of the two-date step at a low cut (`CANDIDATE_CUT`), the area under
the ROC curve (parks against regions touching no park) of two region features: the median
novelty, and the share of the region's edge that crosses ground with no edge in the reference
year (the per-pixel median over reference dates of the squared gradient, below the site median).
Last line: one JSON object.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from scipy import ndimage

from benchmarks import seasons
from pipeline.detect.detectors import detect
from pipeline.detect.refperiod_noise import floor, novelty
from pipeline.detect.refperiod_params import MIN_USABLE, OPTICAL
from pipeline.detect.refperiod_stack import last_usable, stack
from pipeline.detect.twodate_optical import cva_fit, cva_score
from pipeline.model.image import Prepared
from pipeline.prepare.align import irmad_normalise

SHARES = (0.02, 0.005)
K = 12
EXCLUDE_M = 120.0
CANDIDATE_CUT = 1.5
SCORES = ("cva", "nearest", "analogue")


def _features(refs: list[Prepared], test: Prepared) -> tuple[dict, np.ndarray, dict, np.ndarray]:
    keys = sorted(test.bands)
    ref, ref_ok = stack(refs, keys, "optical", None, 0.7)
    tst, tst_ok = stack([test], keys, "optical", None, 0.7)
    return ref, ref_ok, {k: v[0] for k, v in tst.items()}, tst_ok[0]


def nearest_score(ref: dict, ref_ok: np.ndarray, locs: dict, valid: np.ndarray) -> np.ndarray:
    return novelty(ref, ref_ok, locs, valid, OPTICAL)


def analogue_score(
    ref: dict, ref_ok: np.ndarray, locs: dict, valid: np.ndarray, pixel_m: float
) -> np.ndarray:
    t, h, w = ref_ok.shape
    feats = list(ref)
    cols, ys = [], []
    for k in feats:
        v = ref[k][ref_ok]
        med = float(np.median(v))
        sc = max(1.4826 * float(np.median(np.abs(v - med))), 1e-3)
        cols.append(np.where(ref_ok, (ref[k] - med) / sc, 0.0).reshape(t, -1))
        ys.append(locs[k].reshape(-1))
    x = np.concatenate(cols, 0).T.astype(np.float32)  # pixels x (dates * features)
    wt = np.tile(ref_ok.reshape(t, -1).astype(np.float32), (len(feats), 1)).T
    x2 = x * x
    # masked mean squared distance between every pair of pixels over their common dates
    d = (x2 @ wt.T - 2 * (x @ x.T) + wt @ x2.T) / np.maximum(wt @ wt.T, 1)
    rr, cc = np.divmod(np.arange(h * w), w)
    reach = EXCLUDE_M / pixel_m
    d[(np.abs(rr[:, None] - rr[None]) < reach) & (np.abs(cc[:, None] - cc[None]) < reach)] = np.inf
    okt = valid.reshape(-1) & np.isfinite(np.stack(ys)).all(0)
    d[:, ~okt] = np.inf
    idx = np.argpartition(d, K, axis=1)[:, :K]
    good = np.isfinite(np.take_along_axis(d, idx, 1))
    acc = np.zeros(h * w, np.float32)
    for k, y in zip(feats, ys, strict=True):
        with np.errstate(all="ignore"):
            r = y - np.nanmedian(np.where(good, y[idx], np.nan), axis=1)
        rv = r[okt & np.isfinite(r)]
        med = float(np.median(rv))
        spread = max(1.4826 * float(np.median(np.abs(rv - med))), floor(k, OPTICAL))
        acc += ((r - med) / spread) ** 2
    out = np.sqrt(acc / len(feats)).reshape(h, w).astype(np.float32)
    out[~(valid & (good.sum(1) >= K // 2).reshape(h, w) & okt.reshape(h, w))] = np.nan
    return out


def edge_share(ref: dict, ref_ok: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, float]:
    g = np.zeros(ref_ok.shape, np.float32)
    for st in ref.values():
        gy, gx = np.gradient(st, axis=(1, 2))
        g2 = gy**2 + gx**2
        g += g2 / max(float(np.nanmedian(g2)), 1e-12)
    g[~ref_ok] = np.nan
    with np.errstate(all="ignore"):
        gm = np.nanmedian(g, axis=0)
    return gm, float(np.nanquantile(gm[valid], 0.5)) if valid.any() else 1.0


def auc(pos: list[float], neg: list[float]) -> float | None:
    a, b = np.asarray(pos, float), np.asarray(neg, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not a.size or not b.size:
        return None
    return float(np.mean([(x > b).mean() + 0.5 * (x == b).mean() for x in a]))


def run(s: seasons.Series) -> dict[str, Any]:
    rng = np.random.default_rng([seasons.SEED, sum(map(ord, s.name)), 0])
    frac = s.clear.reshape(len(s.days), -1).mean(1)
    good = np.flatnonzero(frac >= seasons.MIN_CLEAR)
    area = s.pixel_m**2
    bg: dict[str, list[np.ndarray]] = {n: [] for n in SCORES}
    parks: dict[str, list[np.ndarray]] = {n: [] for n in SCORES}
    regions: dict[str, list[float]] = {
        "nov_park": [],
        "nov_false": [],
        "edge_park": [],
        "edge_false": [],
    }
    k = 0
    for j, i in enumerate(good):  # the test dates and parks of benchmarks.seasons.run_series
        if j == 0:
            continue
        ref_idx = np.flatnonzero(
            (s.days < s.days[i]) & (s.days >= s.days[i] - seasons.WINDOW["optical"])
        )
        if ref_idx.size < MIN_USABLE:
            continue
        if np.median(s.clear[ref_idx].sum(0)) < MIN_USABLE:
            continue
        with_park = k % 2 == 1
        k += 1
        foot = touched = bands = None
        size = None
        if with_park:
            size = seasons.SIZES_HA[(k // 2) % len(seasons.SIZES_HA)]
            placed = seasons._place(s, i, size * 1e4, rng)
            if placed is None:
                size = None
            else:
                bands, foot, touched = placed
        test, before = s.image(i, bands), s.image(good[j - 1])
        refs = [s.image(r) for r in ref_idx]
        ref, ref_ok, locs, tst_ok = _features(refs, test)
        valid = (ref_ok.sum(0) >= 2) & tst_ok
        after = irmad_normalise(before, test)
        maps = {
            "cva": cva_score(before, after, cva_fit(before, after)),
            "nearest": nearest_score(ref, ref_ok, locs, valid),
            "analogue": analogue_score(ref, ref_ok, locs, valid, s.pixel_m),
        }
        for name, m in maps.items():
            un = np.isfinite(m) & (~touched if touched is not None else True)
            bg[name].append(m[un])
            if foot is not None and size is not None and size >= 1:
                parks[name].append(np.nan_to_num(m[foot], nan=-np.inf))
        # candidate regions of the two-date step against the last reference state
        keys = sorted(test.bands)
        last = last_usable(refs, keys, None)
        cand = detect(
            last, irmad_normalise(last, test), detector="cva", threshold=CANDIDATE_CUT,
            pixel_area_m2=area,
        )  # fmt: skip
        nov = maps["nearest"]
        gm, gcut = edge_share(ref, ref_ok, valid)
        inner = np.zeros(valid.shape, bool)
        inner[1:-1, 1:-1] = True
        cross = ndimage.generate_binary_structure(2, 1)
        for r in cand.regions:
            sel = cand.labels == r.label
            edge = ((sel & ~ndimage.binary_erosion(sel, cross)) | (
                ndimage.binary_dilation(sel, cross) & ~sel)) & inner  # fmt: skip
            share = float(np.mean(gm[edge] < gcut)) if edge.any() else np.nan
            med = float(np.nanmedian(nov[sel])) if np.isfinite(nov[sel]).any() else np.nan
            if touched is not None and (sel & touched).any():
                if foot is not None and (sel & foot).sum() >= 0.3 * sel.sum():
                    regions["nov_park"].append(med)
                    regions["edge_park"].append(share)
            else:
                regions["nov_false"].append(med)
                regions["edge_false"].append(share)
    return {"bg": bg, "parks": parks, "regions": regions}


def recall_at(bg: list[np.ndarray], parks: list[np.ndarray], share: float) -> float | None:
    if not bg or not parks:
        return None
    cut = float(np.quantile(np.concatenate(bg), 1 - share))
    return float(np.mean([np.mean(p > cut) >= seasons.FOUND_COVER for p in parks]))


def main() -> int:
    optical, _radar = seasons.load_all()
    res = {s.name: run(s) for s in optical if s.name not in seasons.LANDSAT_SERIES}
    unseen = [n for n in res if n not in seasons.TUNE_SERIES]
    out: dict[str, Any] = {}
    print(f"{'series':<12}{'score':<10}" + "".join(f"{f'rec@{100 * x:g}%':>10}" for x in SHARES))
    for name in [*res, "unseen"]:
        names = unseen if name == "unseen" else [name]
        for sc in SCORES:
            bg = [b for n in names for b in res[n]["bg"][sc]]
            pk = [p for n in names for p in res[n]["parks"][sc]]
            rec = {f"{x:g}": recall_at(bg, pk, x) for x in SHARES}
            out[f"{name}/{sc}"] = {"recall_ge1ha_at_share": rec, "parks": len(pk)}
            cells = "".join(f"{v:>10.2f}" if v is not None else f"{'-':>10}" for v in rec.values())
            print(f"{name:<12}{sc:<10}{cells}   ({len(pk)} parks >= 1 ha)")
    reg = {k: [v for n in unseen for v in res[n]["regions"][k]] for k in res[unseen[0]]["regions"]}
    a_nov = auc(reg["nov_park"], reg["nov_false"])
    a_edge = auc(reg["edge_park"], reg["edge_false"])
    print(
        f"\ncandidate regions (cva cut {CANDIDATE_CUT:g}, unseen series): "
        f"{len(reg['nov_park'])} on parks, {len(reg['nov_false'])} on farmland; "
        f"AUC median novelty {a_nov:.2f}, AUC share of edge on ground with no edge all year "
        f"{a_edge:.2f}"
    )
    out["regions"] = {
        "candidate_cut": CANDIDATE_CUT,
        "on_parks": len(reg["nov_park"]),
        "on_farmland": len(reg["nov_false"]),
        "auc_novelty": a_nov,
        "auc_new_edge": a_edge,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
