"""Park episodes in the real series, for `benchmarks.timeline`: a park arrives, stays, leaves.

Per sensor-and-orbit series (`Track`: a Sentinel-1 series split by relative orbit with
`occupancy.orbit_groups` on the acquisition times, never mixed; a Sentinel-2 or Landsat series
whole), footprints of 1, 2 and 5 ha are placed at random where the ring (40-160 m outside) lies
wholly inside the chip (checked on a padded grid: the ring is the same with and without the
chip's edge). Each placement is measured on every date with nothing on it (the empty footprint,
for false events), then gets one park per model that arrives at a random time with at least
`MIN_BEFORE` usable acquisitions before it, stays `STAY_DAYS` (30-120 days) with at least
`MIN_STAY_USED` usable acquisitions, and leaves with at least `MIN_AFTER` usable after it.

Radar parks (`benchmarks.parkmodel`): `dense` and `sparse` vehicles laid out once per park, put on
every date it stays with fresh speckle; `uniform` (the upper bound, shown beside, never alone)
raises the footprint on every date it stays (its rise drawn afresh each date). Footprints
alternate square and irregular (star-shaped, radial harmonics). Optical parks: the seasons
benchmark's model (`tests.support.parks.insert_park`: cleared ground of the date's own bare soil,
vehicles, shadows, tracks), its layout drawn once per park and put on every date it stays; its
footprint is the park's own turned rectangle.

Per date and footprint the columns of `Placement.empty` / `Episode.stats` are `COLUMNS`: the
pipeline's contrast (`occupancy.measure`: the bright share), its VV and VH parts, its local
share (`local`: the pipeline's rule reads the bright share and the local share together), and,
for the benchmark's
variants, the share of footprint pixels brighter than the ring's 95th percentile (VV, VH) less
0.05 (0 on an empty footprint whose pixels are drawn like the ring's), and the same share of the
per-pixel mean of VV and VH in dB (`bright_avg`: their speckle is largely independent, so the
mean of the two is less noisy than either).

The window detectors see the same episodes at the departure: the acquisitions (at least half the
chip usable) of the `WINDOW_DAYS` before it against those of the `WINDOW_DAYS` after, the
reference-period detector (`hybrid`, the core's stack branch) and the two-date one
(`s1-logratio` for radar, `cva` for optical: the last before against the first after), through
`pipeline.detect.core.detect_change` as `benchmarks.seasons` calls them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from benchmarks import parkmodel, seasons
from pipeline.detect.core import detect_change
from pipeline.detect.occupancy import RADAR, measure, orbit_groups, ring_mask
from pipeline.model.image import Prepared
from tests.support import parks

SIZES_HA = (1.0, 2.0, 5.0)
STAY_DAYS = (30.0, 120.0)
MIN_BEFORE, MIN_STAY_USED, MIN_AFTER = 6, 2, 3
WINDOW_DAYS = 60.0
SEED = 27
EPOCH = datetime(1970, 1, 1)
COLUMNS = (
    "contrast",  # the pipeline's measure (radar: the bright share, VV)
    "vv",
    "vh",
    "bright_vv",
    "bright_vh",
    "near_vv",
    "near_vh",
    "near_bright_vv",
    "near_bright_vh",
    "mean_db",  # the mean of the VV and VH ratios of means (dB), the measure before the bright one
    "bright_avg",  # the bright share of the per-pixel mean of VV and VH in dB (less speckle)
    "local",  # the pipeline's local share (`occupancy.measure`, parts["local"])
)
NEAR_RING_M = (20.0, 100.0)
"""The near ring of the variants: the land right beside the footprint, often the same field."""
BRIGHT_Q = 95.0
LAND = {
    "flanders-B": "farmland",
    "flanders-A": "farmland",
    "tanzania": "cropland",
    "meadow": "meadow",
    "field": "field",
    "colorado-landsat": "semi-arid",
}


@dataclass
class Track:
    """One sensor-and-orbit series: the acquisitions `idx` of `series` in time order."""

    series: seasons.Series
    name: str
    sensor: str
    idx: np.ndarray
    times: list[datetime]
    days: np.ndarray
    bands: dict[str, np.ndarray]
    """radar: dB; optical: reflectance; (n, h, w)."""
    valid: np.ndarray

    @property
    def kind(self) -> str:
        return self.series.kind

    @property
    def land(self) -> str:
        return LAND.get(self.series.name, "other")

    def date_bands(self, j: int) -> dict[str, np.ndarray]:
        return {k: v[j] for k, v in self.bands.items()}


def tracks(series: list[seasons.Series]) -> list[Track]:
    """Every series as its sensor-and-orbit tracks (radar split by time of day, 3 minutes)."""
    out = []
    for s in series:
        times = [EPOCH + timedelta(days=float(d)) for d in s.days]
        order = np.argsort(s.days, kind="stable")
        if s.kind == "radar":
            groups = np.array(orbit_groups([times[i] for i in order]))
            parts = [order[groups == g] for g in range(int(groups.max()) + 1)]
            with np.errstate(divide="ignore", invalid="ignore"):
                db = {k: (20.0 * np.log10(v)).astype(np.float32) for k, v in s.bands.items()}
        else:
            parts, db = [order], s.bands
        for idx in parts:
            t = [times[i] for i in idx]
            if s.kind == "radar":
                name, sensor = f"{s.name} S1 {t[0]:%H:%M}", "S1"
            else:
                sensor = "Landsat" if s.name in seasons.LANDSAT_SERIES else "S2"
                name = f"{s.name} {sensor}"
            bands = {k: v[idx] for k, v in db.items()}
            out.append(Track(s, name, sensor, idx, t, s.days[idx], bands, s.clear[idx]))
    return out


# --- footprints ---------------------------------------------------------------------------------


def square(shape: tuple[int, int], n_px: int, rc: tuple[int, int]) -> np.ndarray:
    a = max(1, round(math.sqrt(n_px)))
    b = max(1, round(n_px / a))
    foot = np.zeros(shape, bool)
    foot[rc[0] : rc[0] + a, rc[1] : rc[1] + b] = True
    return foot


def irregular(
    shape: tuple[int, int], n_px: int, rc: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """A star-shaped blob of about `n_px` pixels centred on `rc`: radius R(1 + sum of 2nd-4th
    harmonics of amplitude 0.1-0.3), R found by bisection."""
    k = np.arange(2, 5)
    amp, phase = rng.uniform(0.1, 0.3, 3), rng.uniform(0, 2 * np.pi, 3)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    dy, dx = rr - rc[0], cc - rc[1]
    theta, dist = np.arctan2(dy, dx), np.hypot(dy, dx)
    radial = 1.0 + (amp[:, None, None] * np.cos(k[:, None, None] * theta + phase[:, None, None]))
    edge = radial.sum(0) - 2.0  # 1 + sum of the three harmonics
    lo, hi = 0.5, float(max(shape))
    for _ in range(30):
        mid = (lo + hi) / 2
        if (dist <= mid * edge).sum() < n_px:
            lo = mid
        else:
            hi = mid
    return np.asarray(dist <= hi * edge, bool)


def ring_fits(foot: np.ndarray, pixel_m: float) -> bool:
    """The ring lies wholly inside the chip: the same with the chip padded as without."""
    m = int(math.ceil(RADAR.ring_outer_m / pixel_m)) + 1
    ring = ring_mask(foot, pixel_m, RADAR.ring_inner_m, RADAR.ring_outer_m)
    padded = ring_mask(np.pad(foot, m), pixel_m, RADAR.ring_inner_m, RADAR.ring_outer_m)
    return bool(ring.any()) and int(padded.sum()) == int(ring.sum())


# --- the measure ----------------------------------------------------------------------------------


def stats(
    kind: str,
    bands: dict[str, np.ndarray],
    valid: np.ndarray,
    foot: np.ndarray,
    rings: tuple[np.ndarray, np.ndarray],
    pixel_m: float,
) -> tuple[np.ndarray, bool]:
    """`COLUMNS` of one date (NaN where not used) and whether the pipeline's measure uses it.
    `rings`: the pipeline's ring and the near ring (`NEAR_RING_M`)."""
    m = measure(bands, valid, foot, rings[0], kind, RADAR.min_usable, pixel_m=pixel_m)
    out = np.full(len(COLUMNS), np.nan)
    if not m.used:
        return out, False
    out[0] = m.contrast
    if kind == "radar":
        out[1], out[2] = m.parts.get("vv", np.nan), m.parts.get("vh", np.nan)
        fp = valid & foot
        for base, ring in ((3, rings[0]), (7, rings[1])):
            rg = valid & ring
            for c, pol in enumerate(("vv", "vh")):
                b = bands[pol]
                cut = np.percentile(b[rg], BRIGHT_Q)
                out[base + c] = float(np.mean(b[fp] > cut)) - (1.0 - BRIGHT_Q / 100.0)
        near = measure(bands, valid, foot, rings[1], kind, RADAR.min_usable, pixel_m=pixel_m)
        out[5], out[6] = near.parts.get("vv", np.nan), near.parts.get("vh", np.nan)
        out[9] = float(np.nanmean([out[1], out[2]]))
        avg = (bands["vv"] + bands["vh"]) / 2.0
        cut = np.percentile(avg[valid & rings[0]], BRIGHT_Q)
        out[10] = float(np.mean(avg[fp] > cut)) - (1.0 - BRIGHT_Q / 100.0)
        out[11] = m.parts.get("local", np.nan)
    return out, True


# --- placements and episodes ----------------------------------------------------------------------


@dataclass
class Placement:
    track: Track
    size: float
    shape: str
    foot: np.ndarray
    ring: np.ndarray
    near: np.ndarray
    empty: np.ndarray
    """(n, COLUMNS) with nothing on the footprint."""
    used: np.ndarray
    rc: tuple[int, int] = (0, 0)
    layout_seed: int = 0
    t_arr: float = math.nan
    t_dep: float = math.nan
    """Park arrives / leaves (days since 1970), or NaN when no episode fits."""
    i_arr: int = -1
    i_dep: int = -1
    """The first used acquisition in the new state."""

    @property
    def occupied(self) -> np.ndarray:
        d = self.track.days
        return (d >= self.t_arr) & (d < self.t_dep)


@dataclass
class Episode:
    place: Placement
    model: str
    stats: np.ndarray
    windows: dict[str, bool] = field(default_factory=dict)


def place(
    track: Track, size: float, k: int, rng: np.random.Generator, tries: int = 60
) -> Placement | None:
    """Footprint k of `size` ha on `track`, measured empty on every date, with its episode's
    times drawn; None when no place fits the ring in the chip or no episode fits the series."""
    s, h, w = track.series, *track.valid.shape[1:]
    n_px = max(1, round(size * 1e4 / s.pixel_m**2))
    # the least reach of any footprint of this size from its centre, plus the ring
    least = (
        math.sqrt(size * 1e4 / 2.2) / 2 if track.kind == "optical" else 0.3 * math.sqrt(size * 1e4)
    )
    m = min(int((least + RADAR.ring_outer_m) / s.pixel_m), min(h, w) // 2 - 1)
    for _ in range(tries):
        rc = (int(rng.integers(m, h - m)), int(rng.integers(m, w - m)))
        if track.kind != "optical" and k % 2 == 0:  # a square's corner, not its centre
            rc = (rc[0] - int(math.sqrt(n_px)) // 2, rc[1] - int(math.sqrt(n_px)) // 2)
        seed = int(rng.integers(2**31))
        if track.kind == "optical":
            blank = {"red": np.zeros((h, w), np.float32)}
            foot = parks.insert_park(blank, rc, size * 1e4, s.pixel_m, np.random.default_rng(seed))[
                1
            ]
            shape = "rect"
        elif k % 2 == 0:
            foot, shape = square((h, w), n_px, rc), "square"
        else:
            foot, shape = irregular((h, w), n_px, rc, rng), "irregular"
        if ring_fits(foot, s.pixel_m):
            break
    else:
        return None
    ring = ring_mask(foot, s.pixel_m, RADAR.ring_inner_m, RADAR.ring_outer_m)
    near = ring_mask(foot, s.pixel_m, *NEAR_RING_M)
    n = len(track.times)
    empty = np.full((n, len(COLUMNS)), np.nan)
    used = np.zeros(n, bool)
    for j in range(n):
        empty[j], used[j] = stats(
            track.kind, track.date_bands(j), track.valid[j], foot, (ring, near), s.pixel_m
        )
    p = Placement(track, size, shape, foot, ring, near, empty, used, rc, seed)
    tu = track.days[used]
    if tu.size < MIN_BEFORE + MIN_STAY_USED + MIN_AFTER:
        return p
    for _ in range(40):
        stay = float(rng.uniform(*STAY_DAYS))
        lo, hi = tu[MIN_BEFORE - 1] + 1e-3, tu[-MIN_AFTER] - stay
        if hi <= lo:
            continue
        ta = float(rng.uniform(lo, hi))
        td = ta + stay
        if ((tu >= ta) & (tu < td)).sum() >= MIN_STAY_USED and (tu >= td).sum() >= MIN_AFTER:
            p.t_arr, p.t_dep = ta, td
            p.i_arr = int(np.flatnonzero(used & (track.days >= ta))[0])
            p.i_dep = int(np.flatnonzero(used & (track.days >= td))[0])
            break
    return p


def episode(p: Placement, model: str, windows: bool, rng: np.random.Generator) -> Episode:
    """The placement's park of `model` (radar: dense, sparse, uniform; optical: "optical") on
    every date it stays; the window detectors run on the departure when `windows`."""
    t, s = p.track, p.track.series
    out = p.empty.copy()
    occ = p.occupied
    before = (t.days >= p.t_dep - WINDOW_DAYS) & (t.days < p.t_dep)
    after = (t.days >= p.t_dep) & (t.days <= p.t_dep + WINDOW_DAYS)
    chip_ok = t.valid.reshape(len(t.times), -1).mean(1) >= seasons.MIN_CLEAR
    need = occ & (p.used | (windows & before & chip_ok))
    vehicles = None
    if model in ("dense", "sparse"):
        vehicles = parkmodel.layout_vehicles(p.foot, s.pixel_m, model, rng)  # type: ignore[arg-type]
    parked: dict[int, dict[str, np.ndarray]] = {}  # as the series holds them (radar amplitude)
    for j in np.flatnonzero(need):
        if t.kind == "radar":
            raw = {k: s.bands[k][t.idx[j]].astype(np.float64) ** 2 for k in ("vv", "vh")}
            if vehicles is None:
                nv, nh = parkmodel.uniform_park(raw["vv"], raw["vh"], p.foot, rng)
            else:
                nv, nh = parkmodel.add_vehicles(raw["vv"], raw["vh"], vehicles, rng)
            with np.errstate(divide="ignore", invalid="ignore"):
                db = {"vv": 10.0 * np.log10(nv), "vh": 10.0 * np.log10(nh)}
            parked[j] = {"vv": np.sqrt(nv).astype(np.float32), "vh": np.sqrt(nh).astype(np.float32)}
        else:
            g = np.random.default_rng(p.layout_seed)
            db = parks.insert_park(t.date_bands(j), p.rc, p.size * 1e4, s.pixel_m, g)[0]
            parked[j] = db
        if p.used[j]:
            out[j] = stats(t.kind, db, t.valid[j], p.foot, (p.ring, p.near), s.pixel_m)[0]
    ep = Episode(p, model, out)
    if windows:
        ep.windows = window_detectors(p, parked, np.flatnonzero(before & chip_ok), after & chip_ok)
    return ep


def window_detectors(
    p: Placement, parked: dict[int, dict[str, np.ndarray]], before: np.ndarray, after: np.ndarray
) -> dict[str, bool]:
    """Did the reference-period detector (hybrid) and the two-date one flag the departure on at
    least `seasons.FOUND_COVER` of the footprint? Missing when a window is empty."""
    t, s = p.track, p.track.series
    aft = np.flatnonzero(after)
    if before.size == 0 or aft.size == 0:
        return {}

    def img(j: int) -> Prepared:
        return seasons.as_read(s.image(int(t.idx[j]), parked.get(j)), t.kind)

    refs, tests = [img(j) for j in before], [img(j) for j in aft]
    area = s.pixel_m**2
    two = "s1-logratio" if t.kind == "radar" else "cva"
    out: dict[str, bool] = {}
    for name, kw in (
        ("hybrid", {"stacks": {"before": refs, "after": tests}, "detection": "reference"}),
        (two, {"detection": "two-date"}),
    ):
        try:
            ch = detect_change(
                refs[-1],
                tests[0],
                kind=t.kind,  # type: ignore[arg-type]
                detector="cva" if t.kind == "optical" else "s1-logratio",
                pixel_area_m2=area,
                **kw,  # type: ignore[arg-type]
            ).change
        except ValueError:
            continue
        out[name] = bool((ch.mask & p.foot).sum() >= seasons.FOUND_COVER * p.foot.sum())
    return out


def simulate(
    track: Track, n_per_size: int, models: tuple[str, ...], n_windows: int
) -> tuple[list[Placement], list[Episode]]:
    """`n_per_size` placements of each size on `track` and their episodes, one per model; the
    window detectors run on the first `n_windows` placements of each size. Seeded per track."""
    places, eps = [], []
    for si, size in enumerate(SIZES_HA):
        for k in range(n_per_size):
            rng = np.random.default_rng([SEED, sum(map(ord, track.name)), si, k])
            p = place(track, size, k, rng)
            if p is None:
                continue
            places.append(p)
            if math.isnan(p.t_arr):
                continue
            for model in models:
                eps.append(episode(p, model, k < n_windows, rng))
    return places, eps
