"""Insert a realistic vehicle park into one date of a real image (the mission test set). Pure.

A park is what a 10 m sensor can actually see of a company or battalion in the field: a cleared,
scarred patch of bare ground (hectares), vehicles about 2.5 x 7 m parked side by side in rows with
their shadows, lanes between the rows, and tracks leading out. Everything is drawn on a fine
sub-grid (about 1 m) and averaged into the image's pixels, so a vehicle is a sub-pixel mixture, as
it is in reality, and the result is blurred by a point-spread function like the sensor's.

Spectra: the cleared ground takes the scene's own bare-soil spectrum (median of its bare-soil
pixels) when enough of them exist; vehicles are NIR-reflective green paint (CARC-like), canvas and
bright metal, plus shadow. The input is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

MIN_AREA_M2 = 1_000.0
MAX_AREA_M2 = 500_000.0

GENERIC_SOIL = {
    "blue": 0.08,
    "green": 0.11,
    "red": 0.15,
    "nir": 0.22,
    "swir16": 0.30,
    "swir22": 0.25,
}
"""Dry loam, used where the scene has too few bare-soil pixels of its own."""

VEHICLES = {
    # NIR-reflective green paint: dark in the visible, vegetation-like NIR.
    "paint": {
        "blue": 0.04,
        "green": 0.06,
        "red": 0.05,
        "nir": 0.24,
        "swir16": 0.14,
        "swir22": 0.09,
    },
    # Canvas covers and tents.
    "canvas": {
        "blue": 0.10,
        "green": 0.12,
        "red": 0.13,
        "nir": 0.28,
        "swir16": 0.26,
        "swir22": 0.20,
    },
    # Bare metal, windscreens, containers: bright and flat.
    "metal": {
        "blue": 0.24,
        "green": 0.25,
        "red": 0.26,
        "nir": 0.28,
        "swir16": 0.24,
        "swir22": 0.21,
    },
}
VEHICLE_SHARE = {"paint": 0.7, "canvas": 0.15, "metal": 0.15}
SHADOW = 0.03
"""Reflectance of vehicle shadows, all bands."""

VEHICLE_W, VEHICLE_L = 2.5, 7.0
SHADOW_W = 1.5


@dataclass(frozen=True)
class ParkLayout:
    """What was drawn, for reporting: sizes in metres, counts, orientation in degrees."""

    length_m: float
    width_m: float
    angle_deg: float
    vehicles: int
    tracks: int


def bare_soil_spectrum(bands: dict[str, np.ndarray], min_pixels: int = 50) -> dict[str, float]:
    """Median spectrum of the scene's bare-soil pixels, per band; generic loam where too few.

    Bare soil: NDVI 0..0.25, red brighter than green and at least 0.06 (not water or shadow) and,
    when SWIR is present, a positive bare-soil index ((swir16 + red) - (nir + blue)) / (sum).
    """
    out = {k: GENERIC_SOIL.get(k, float(np.nanmedian(v))) for k, v in bands.items()}
    if not {"red", "green", "nir"} <= set(bands):
        return out
    red, green, nir = bands["red"], bands["green"], bands["nir"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
        soil = (ndvi > 0.0) & (ndvi < 0.25) & (red > green) & (red > 0.06)
        if "swir16" in bands and "blue" in bands:
            s, b = bands["swir16"], bands["blue"]
            soil &= ((s + red) - (nir + b)) / ((s + red) + (nir + b)) > 0.0
    for v in bands.values():
        soil &= np.isfinite(v)
    if int(soil.sum()) < min_pixels:
        return out
    return {k: float(np.median(v[soil])) for k, v in bands.items()}


def insert_park(
    bands: dict[str, np.ndarray],
    centre_rc: tuple[int, int],
    area_m2: float,
    pixel_m: float,
    rng: np.random.Generator,
    soil: dict[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A copy of `bands` (reflectance, keys like blue/green/red/nir/swir16/swir22, one grid) with a
    vehicle park of `area_m2` centred on pixel `centre_rc`, and the bool mask of the park's
    footprint (pixels at least half covered; the most covered pixel when none is).

    `pixel_m` is the pixel size in metres; `soil` overrides the ground spectrum (default: the
    scene's own bare soil, see `bare_soil_spectrum`). Same `rng` state, same park.
    """
    out, mask, _ = insert_park_layout(bands, centre_rc, area_m2, pixel_m, rng, soil)
    return out, mask


def insert_park_layout(
    bands: dict[str, np.ndarray],
    centre_rc: tuple[int, int],
    area_m2: float,
    pixel_m: float,
    rng: np.random.Generator,
    soil: dict[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, ParkLayout]:
    """`insert_park`, also returning what was drawn."""
    if not bands:
        raise ValueError("insert_park: no bands given")
    shape = next(iter(bands.values())).shape
    if any(v.shape != shape for v in bands.values()):
        raise ValueError("insert_park: all bands must share one grid (same shape)")
    if not MIN_AREA_M2 <= area_m2 <= MAX_AREA_M2:
        raise ValueError(
            f"insert_park: area_m2={area_m2:g} outside {MIN_AREA_M2:g}..{MAX_AREA_M2:g} m²"
        )
    if not 0.5 <= pixel_m <= 500:
        raise ValueError(f"insert_park: pixel_m={pixel_m:g} is not a plausible pixel size")
    r0, c0 = int(centre_rc[0]), int(centre_rc[1])
    if not (0 <= r0 < shape[0] and 0 <= c0 < shape[1]):
        raise ValueError(f"insert_park: centre {centre_rc} is outside the image {shape}")
    spectrum = soil if soil is not None else bare_soil_spectrum(bands)

    # Layout, in metres.
    aspect = float(rng.uniform(1.0, 2.2))
    length = float(np.sqrt(area_m2 * aspect))
    width = area_m2 / length
    theta = float(rng.uniform(0, np.pi))
    slot_pitch = VEHICLE_W + float(rng.uniform(1.5, 3.5))
    row_pitch = VEHICLE_L + float(rng.uniform(6.0, 12.0))
    occupancy = float(rng.uniform(0.55, 0.9))
    n_tracks = int(rng.integers(1, 4))
    track_len = [float(rng.uniform(0.6, 1.5)) * max(length, 150.0) for _ in range(n_tracks)]
    track_dir = rng.uniform(0, 2 * np.pi, n_tracks)
    track_bend = rng.uniform(-0.6, 0.6, n_tracks)
    track_w = rng.uniform(4.0, 7.0, n_tracks)

    # Window (pixels) around the centre holding park and tracks, on a ~1 m sub-grid.
    reach_m = 0.5 * np.hypot(length, width) + max(track_len) + 3 * pixel_m
    half = int(np.ceil(reach_m / pixel_m))
    top, left = max(r0 - half, 0), max(c0 - half, 0)
    bottom, right = min(r0 + half + 1, shape[0]), min(c0 + half + 1, shape[1])
    h, w = bottom - top, right - left
    sub = min(max(1, int(round(pixel_m / 1.0))), 40)  # ~1 m cells; 2.5 m at 100 m pixels
    cell = pixel_m / sub
    ys = ((np.arange(h * sub) + 0.5) * cell + (top - r0 - 0.5) * pixel_m).astype(np.float32)
    xs = ((np.arange(w * sub) + 0.5) * cell + (left - c0 - 0.5) * pixel_m).astype(np.float32)
    y, x = np.meshgrid(ys, xs, indexing="ij")
    cos, sin = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    u = x * cos + y * sin
    v = -x * sin + y * cos

    # Ground texture: scarring at a few metres' scale, +-10 % brightness.
    coarse = max(1, int(round(4.0 / cell)))
    tex_small = rng.normal(0.0, 1.0, (h * sub // coarse + 2, w * sub // coarse + 2))
    tex_small = ndimage.gaussian_filter(tex_small, 1.0)
    tex_small /= max(float(tex_small.std()), 1e-6)
    ri = np.minimum(np.arange(h * sub) // coarse, tex_small.shape[0] - 1)
    ci = np.minimum(np.arange(w * sub) // coarse, tex_small.shape[1] - 1)
    texture = (1.0 + 0.1 * tex_small[np.ix_(ri, ci)]).astype(np.float32)

    footprint = (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)

    # Vehicles side by side in rows: a slot every slot_pitch along u, a row every row_pitch along v.
    i = np.rint(u / slot_pitch).astype(np.int32)
    j = np.rint(v / row_pitch).astype(np.int32)
    du = u - i * slot_pitch
    dv = v - j * row_pitch
    ni = int(np.ceil(length / 2 / slot_pitch)) + 1
    nj = int(np.ceil(width / 2 / row_pitch)) + 1
    occupied = rng.random((2 * ni + 1, 2 * nj + 1)) < occupancy
    kinds = list(VEHICLE_SHARE)
    kind = rng.choice(len(kinds), size=occupied.shape, p=list(VEHICLE_SHARE.values()))
    inside_slot = (np.abs(i * slot_pitch) <= length / 2 - 5.0) & (
        np.abs(j * row_pitch) <= width / 2 - 5.0
    )
    ii = np.clip(i + ni, 0, 2 * ni)
    jj = np.clip(j + nj, 0, 2 * nj)
    parked = footprint & inside_slot & occupied[ii, jj]
    in_row = np.abs(dv) <= VEHICLE_L / 2
    vehicle = parked & in_row & (np.abs(du) <= VEHICLE_W / 2)
    shadow = parked & in_row & (du > VEHICLE_W / 2) & (du <= VEHICLE_W / 2 + SHADOW_W) & ~vehicle
    vehicle_kind = np.where(vehicle, kind[ii, jj], -1)
    lanes = footprint & ~in_row
    n_vehicles = int((occupied & _slots_inside(ni, nj, slot_pitch, row_pitch, length, width)).sum())
    del u, v, du, dv, i, j, ii, jj, parked, in_row

    # Tracks: bent lines of compacted soil leading out from the park.
    track = np.zeros(footprint.shape, bool)
    for k in range(n_tracks):
        t = np.linspace(0.0, 1.0, 12)
        ang = track_dir[k] + track_bend[k] * t
        steps = np.stack([np.cos(ang), np.sin(ang)], 1) * (track_len[k] / len(t))
        start = np.array([0.0, 0.0])
        pts = np.vstack([start, start + np.cumsum(steps, 0)])
        rad = track_w[k] / 2
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            # Only the cells in the segment's bounding box (xs, ys ascend).
            r_lo, r_hi = np.searchsorted(ys, [min(a[1], b[1]) - rad, max(a[1], b[1]) + rad])
            c_lo, c_hi = np.searchsorted(xs, [min(a[0], b[0]) - rad, max(a[0], b[0]) + rad])
            box = np.s_[r_lo:r_hi, c_lo:c_hi]
            track[box] |= _near_segment(x[box], y[box], a, b, rad)
    track &= ~footprint
    del x, y

    # Average the layers into pixels and mix with the scene.
    def frac(layer: np.ndarray) -> np.ndarray:
        return layer.reshape(h, sub, w, sub).mean(axis=(1, 3), dtype=np.float64)

    ground_cells = footprint & ~vehicle & ~shadow
    ground_w = frac(np.where(ground_cells, texture * np.where(lanes, 1.06, 1.0), 0.0))
    track_w_px = frac(np.where(track, texture * 1.1, 0.0))
    cover = frac(ground_cells | vehicle | shadow | track)
    shadow_f = frac(shadow)
    kind_f = {name: frac(vehicle_kind == n) for n, name in enumerate(kinds)}
    foot_f = frac(footprint)

    out: dict[str, np.ndarray] = {}
    for key, arr in bands.items():
        win = arr[top:bottom, left:right].astype(np.float64)
        s = spectrum.get(key, GENERIC_SOIL.get(key, 0.15))
        mixed = win * (1.0 - cover) + (ground_w + track_w_px) * s + shadow_f * SHADOW
        for name, f in kind_f.items():
            mixed += f * VEHICLES[name].get(key, float(np.mean(list(VEHICLES[name].values()))))
        delta = np.where(np.isfinite(win), mixed - win, 0.0)
        delta = ndimage.gaussian_filter(delta, 0.5)  # the sensor's point-spread function
        new = arr.copy()
        new[top:bottom, left:right] = np.where(np.isfinite(win), win + delta, win).astype(arr.dtype)
        out[key] = new

    mask = np.zeros(shape, bool)
    part = foot_f >= 0.5
    if not part.any():
        part = foot_f == foot_f.max()
    mask[top:bottom, left:right] = part
    layout = ParkLayout(length, width, float(np.degrees(theta)), n_vehicles, n_tracks)
    return out, mask, layout


def _slots_inside(
    ni: int, nj: int, slot_pitch: float, row_pitch: float, length: float, width: float
) -> np.ndarray:
    iu = np.abs(np.arange(-ni, ni + 1) * slot_pitch) <= length / 2 - 5.0
    jv = np.abs(np.arange(-nj, nj + 1) * row_pitch) <= width / 2 - 5.0
    return iu[:, None] & jv[None, :]


def _near_segment(
    x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float
) -> np.ndarray:
    """Cells within `radius` of segment a-b (points as (x, y) metres)."""
    d = b - a
    ll = float(d @ d) or 1e-9
    t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1]) / ll, 0.0, 1.0)
    px = a[0] + t * d[0] - x
    py = a[1] + t * d[1] - y
    return px * px + py * py <= radius * radius
