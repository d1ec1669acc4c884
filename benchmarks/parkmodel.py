"""A vehicle park as C-band radar sees it: vehicles as point scatterers on the real ground. Pure.

Used by `benchmarks.seasons` (and meant for `benchmarks.timeline` and tests) to put a park into
one date of a real Sentinel-1 series. Inputs and outputs are linear sigma0 planes (power, not dB,
not amplitude), VV and VH, on one grid; NaN stays NaN; pixels outside the footprint are returned
unchanged, bit for bit; the inputs are never modified. Same Generator state, same park.

The physics (issue 27, item 5), and the numbers used here:

* A vehicle (truck, APC, tank: about 7 x 3 m) at C-band returns a radar cross-section (RCS) of
  about 10-100 m² in VV, depending on its heading relative to the look direction (broadside
  dihedrals bright, end-on dim) [issue 27's figure, taken as given: not checked here against a
  measurement; Drouyer & de Franchis 2020 count parked cars on Sentinel-1 the same way, as
  bright points on ground]. Each vehicle's
  VV RCS is drawn log-uniform in `RCS_VV_M2` (10-100 m², median 32 m², mean 39 m²), each
  vehicle independently: headings relative to the radar are unknown and varied, so the spread
  over headings is the spread over vehicles (a park in strictly aligned rows would correlate
  them; not modelled). VH is `VH_BELOW_VV_DB` (6-10 dB, uniform, per vehicle) below its VV.
* Grass or soil returns sigma0 -14 to -8 dB, i.e. 16-60 m² per 20 m pixel (400 m²) [issue 27;
  the real series here: VV median -10 dB, quartiles -12 / -8 dB]. The ground's return is the
  real image's own sigma0 x pixel area; a vehicle adds its RCS on top:
  sigma0_new = sigma0 + (sum of the vehicles' RCS on the pixel) x speckle / pixel_area.
  (The vehicles also shade a little ground; at 21 m² of 400 m² this is ignored.)
* Where a vehicle lies: each vehicle is a 7 x 3 m rectangle (`VEHICLE_L_M`, `VEHICLE_W_M`)
  sampled at 1 m (21 points, `SUB_M`); its RCS is split among the pixels those points fall on,
  by area. At 20 m about 60 % of the vehicles lie on one pixel and 40 % straddle two or more;
  at 10 m about 75 % straddle. (A real vehicle's return comes from a few scattering centres,
  and Sentinel-1 GRD's ~20 x 22 m resolution blurs it over 10 m pixels anyway; splitting by
  area is the middle course.) Only vehicles lying wholly on footprint pixels are kept, so
  nothing outside the footprint changes.
* The added return carries its own speckle: per pixel, the vehicles' summed return is
  multiplied by Gamma(L, 1/L), L = `ENL` = 4.4 (Sentinel-1 IW GRD's equivalent number of
  looks), mean 1 (the mean return is preserved). The ground keeps the speckle it has.
* Layouts, in a frame turned by a random angle and shifted by a random offset over the
  footprint:
  - `dense`: vehicles side by side in rows, `DENSE_PER_HA` (75-90) vehicles per hectare:
    a slot every 4.5-6 m along the row (3 m vehicle + 1.5-3 m gap), rows 7 m deep, the row
    pitch set by the density (18-30 m), so 11-23 m lanes of empty ground lie between rows;
  - `sparse`: a third of the density (25-30 per ha; a battalion dispersed 10-30 m apart):
    a grid of pitch sqrt(1 ha / density) (18-20 m), each vehicle moved by up to +-4 m from
    its node and turned at random (nearest neighbour median 16 m, 5-95 % 12-20 m, 11 m at
    least).
  About 3 vehicles per 20 m pixel on dense ground, about 1 on sparse. Vehicles not wholly on
  the footprint are dropped, so on a 3 ha footprint at 20 m a dense park holds 65-83 vehicles
  per footprint hectare and a sparse one 23-29.
* What it gives on the real series (a 2 ha footprint put on each of the 80 / 157 / 60 dates of
  the three worldcereal Sentinel-1 chips, 20 m; tests/test_parkmodel.py checks Flanders): the
  median over the footprint of a dense park's VV rise is 3.9 dB (Flanders B; interquartile
  over dates 3.2-5.3), 4.3 dB (Flanders A), 5.0 dB (Tanzania), against issue 27's ~5 dB
  (interquartile 3.5-6); over all footprint pixels the quartiles are 2.5 / 4.2 / 6.3 dB on
  Flanders B (the lanes and the speckle widen the spread). A sparse park: 1.6, 1.8, 2.2 dB
  (issue: ~2 dB). VH rises 0-1 dB less than VV. Brighter ground rises less. A park is
  a mix of bright vehicle pixels beside darker lanes, not a uniform rise; the uniform model
  gives a median of ~8 dB on the same footprints.

`uniform_park` is the model `benchmarks.seasons` used before (VV +6-10 dB, VH +4-8 dB over the
whole footprint, plus N(0, 1.5 dB) per pixel): an upper bound no real park reaches, kept so
both can be shown side by side, never alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Density = Literal["dense", "sparse"]

RCS_VV_M2 = (10.0, 100.0)
"""VV radar cross-section of one vehicle at C-band, m² (log-uniform between the two)."""
VH_BELOW_VV_DB = (6.0, 10.0)
"""A vehicle's VH is this much below its VV, dB (uniform)."""
ENL = 4.4
"""Equivalent number of looks of the vehicles' added return (Sentinel-1 IW GRD)."""
VEHICLE_L_M, VEHICLE_W_M = 7.0, 3.0
SUB_M = 1.0
"""Vehicles are sampled on this grid (metres) to split their return among pixels by area."""
DENSE_PER_HA = (75.0, 90.0)
SPARSE_SHARE = 1 / 3
"""Sparse parks hold this share of a dense park's vehicles per hectare."""
SLOT_PITCH_M = (4.5, 6.0)
"""Dense rows: one vehicle every this many metres along the row (3 m wide + 1.5-3 m gap)."""
SPARSE_JITTER_M = 4.0
"""Sparse parks: each vehicle moves up to +-this from its grid node, per axis."""
UNIFORM_VV_DB = (6.0, 10.0)
UNIFORM_VH_DB = (4.0, 8.0)
UNIFORM_JITTER_DB = 1.5
MODELS = ("dense", "sparse", "uniform")
"""The models `radar_park` draws: point scatterers dense and sparse, and the uniform rise."""
MODEL_LABEL = {
    "dense": "dense point scatterers, ~75-90 vehicles/ha",
    "sparse": "sparse point scatterers, ~25-30 vehicles/ha",
    "uniform": "uniform +6-10 dB, UPPER BOUND",
}


@dataclass(frozen=True)
class Vehicles:
    """Where the vehicles of one park are and what they return, before speckle.

    `pixels` (n,) int64 flat pixel indices and `weights` (n,) the share of vehicle `owner[k]`
    on that pixel (a vehicle's shares sum to 1); `rcs_vv`, `rcs_vh` (vehicles,) m²; `x_m`,
    `y_m` (vehicles,) centres in metres from the grid's top-left corner (x along columns, y
    down the rows); `heading` (vehicles,) radians; `per_ha` the layout's drawn density. The
    same `Vehicles` can be put on every date a park stays (`add_vehicles`), each date with
    fresh speckle.
    """

    shape: tuple[int, int]
    pixel_m: float
    pixels: np.ndarray
    owner: np.ndarray
    weights: np.ndarray
    rcs_vv: np.ndarray
    rcs_vh: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    heading: np.ndarray
    per_ha: float

    @property
    def count(self) -> int:
        return int(self.rcs_vv.size)

    def rcs_per_pixel(self) -> tuple[np.ndarray, np.ndarray]:
        """(VV, VH) m² of vehicle return on each pixel of the grid, before speckle."""
        n = self.shape[0] * self.shape[1]
        vv = np.bincount(self.pixels, self.weights * self.rcs_vv[self.owner], minlength=n)
        vh = np.bincount(self.pixels, self.weights * self.rcs_vh[self.owner], minlength=n)
        return vv.reshape(self.shape), vh.reshape(self.shape)


def layout_vehicles(
    footprint: np.ndarray, pixel_m: float, density: Density, rng: np.random.Generator
) -> Vehicles:
    """Vehicles of a `density` park ("dense" or "sparse") on the True pixels of `footprint`
    (2-D bool), pixels of `pixel_m` metres, with their VV and VH RCS drawn (see the module)."""
    foot = np.asarray(footprint, bool)
    if foot.ndim != 2:
        raise ValueError(f"layout_vehicles: footprint must be 2-D, got shape {foot.shape}")
    if not 1.0 <= pixel_m <= 100.0:
        raise ValueError(f"layout_vehicles: pixel_m={pixel_m:g} is not a radar pixel size")
    if density not in ("dense", "sparse"):
        raise ValueError(f"layout_vehicles: density={density!r}, expected 'dense' or 'sparse'")
    h, w = foot.shape
    per_ha = float(rng.uniform(*DENSE_PER_HA))
    theta = float(rng.uniform(0.0, np.pi))
    rr, cc = np.nonzero(foot)
    if rr.size == 0:
        return _no_vehicles(foot.shape, pixel_m, per_ha)
    # Footprint centre and reach in metres (x east along columns, y down along rows).
    cx, cy = (cc.mean() + 0.5) * pixel_m, (rr.mean() + 0.5) * pixel_m
    reach = float(np.hypot(np.ptp(cc) + 2, np.ptp(rr) + 2)) * pixel_m / 2 + VEHICLE_L_M
    if density == "dense":
        slot = float(rng.uniform(*SLOT_PITCH_M))
        row = 1e4 / (per_ha * slot)
        u, v = _grid(reach, slot, row, rng)
        heading = np.full(u.size, theta + np.pi / 2)  # side by side: long axis across the row
    else:
        per_ha *= SPARSE_SHARE
        pitch = float(np.sqrt(1e4 / per_ha))
        u, v = _grid(reach, pitch, pitch, rng)
        u = u + rng.uniform(-SPARSE_JITTER_M, SPARSE_JITTER_M, u.size)
        v = v + rng.uniform(-SPARSE_JITTER_M, SPARSE_JITTER_M, v.size)
        heading = rng.uniform(0.0, 2 * np.pi, u.size)
    cos, sin = np.cos(theta), np.sin(theta)
    x = cx + u * cos - v * sin
    y = cy + u * sin + v * cos
    # 1 m sample points of each vehicle's 7 x 3 m body, turned by its heading.
    a = np.arange(SUB_M / 2 - VEHICLE_L_M / 2, VEHICLE_L_M / 2, SUB_M)
    b = np.arange(SUB_M / 2 - VEHICLE_W_M / 2, VEHICLE_W_M / 2, SUB_M)
    la, lb = (m.ravel() for m in np.meshgrid(a, b, indexing="ij"))
    ch, sh = np.cos(heading)[:, None], np.sin(heading)[:, None]
    px = x[:, None] + la * ch - lb * sh
    py = y[:, None] + la * sh + lb * ch
    col = np.floor(px / pixel_m).astype(np.int64)
    rowi = np.floor(py / pixel_m).astype(np.int64)
    inside = (col >= 0) & (col < w) & (rowi >= 0) & (rowi < h)
    on_foot = np.zeros(inside.shape, bool)
    on_foot[inside] = foot[rowi[inside], col[inside]]
    keep = on_foot.all(axis=1)  # wholly on the footprint: nothing outside it changes
    flat = (rowi[keep] * w + col[keep]).ravel()
    n = int(keep.sum())
    owner = np.repeat(np.arange(n), la.size)
    weights = np.full(flat.size, 1.0 / la.size)
    rcs_vv = np.exp(rng.uniform(np.log(RCS_VV_M2[0]), np.log(RCS_VV_M2[1]), n))
    rcs_vh = rcs_vv * 10.0 ** (-rng.uniform(*VH_BELOW_VV_DB, n) / 10.0)
    return Vehicles(
        (h, w),
        float(pixel_m),
        flat,
        owner,
        weights,
        rcs_vv,
        rcs_vh,
        x[keep],
        y[keep],
        heading[keep],
        per_ha,
    )


def add_vehicles(
    vv: np.ndarray, vh: np.ndarray, vehicles: Vehicles, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """New (VV, VH) linear sigma0 planes: the ground's `vv`, `vh` (linear sigma0) plus the
    vehicles' return / pixel area, with its own speckle (Gamma, `ENL` looks, mean 1) drawn
    per pixel and polarisation. Pixels without a vehicle come back unchanged; NaN stays NaN."""
    for name, plane in (("vv", vv), ("vh", vh)):
        if plane.shape != vehicles.shape:
            raise ValueError(
                f"add_vehicles: {name} has shape {plane.shape}, the vehicles' grid {vehicles.shape}"
            )
    area = vehicles.pixel_m**2
    out = []
    for plane, rcs in zip((vv, vh), vehicles.rcs_per_pixel(), strict=True):
        hit = rcs > 0
        speckle = rng.gamma(ENL, 1.0 / ENL, int(hit.sum()))
        new = np.array(plane, copy=True)
        with np.errstate(invalid="ignore"):
            new[hit] = (plane[hit] + rcs[hit] * speckle / area).astype(new.dtype)
        out.append(new)
    return out[0], out[1]


def point_scatterer_park(
    vv: np.ndarray,
    vh: np.ndarray,
    footprint: np.ndarray,
    pixel_m: float,
    density: Density,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """New (VV, VH) linear sigma0 planes with a `density` park ("dense" / "sparse") of point
    scatterers on `footprint`: `layout_vehicles` then `add_vehicles` with the same `rng`."""
    return add_vehicles(vv, vh, layout_vehicles(footprint, pixel_m, density, rng), rng)


def uniform_park(
    vv: np.ndarray, vh: np.ndarray, footprint: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """New (VV, VH) linear sigma0 planes with the footprint raised uniformly: VV by U(6, 10) dB
    and VH by U(4, 8) dB per park, plus N(0, 1.5 dB) per pixel. The upper bound; see the module."""
    foot = np.asarray(footprint, bool)
    dv, dh = rng.uniform(*UNIFORM_VV_DB), rng.uniform(*UNIFORM_VH_DB)
    out = []
    for plane, db in ((vv, dv), (vh, dh)):
        jitter = rng.normal(0.0, UNIFORM_JITTER_DB, plane.shape)
        gain = np.power(10.0, (db + jitter) / 10.0)
        out.append(np.where(foot, plane * gain, plane).astype(plane.dtype))
    return out[0], out[1]


def radar_park(
    model: str,
    vv: np.ndarray,
    vh: np.ndarray,
    footprint: np.ndarray,
    pixel_m: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """New (VV, VH) linear sigma0 planes with a park of `model` (one of `MODELS`): the
    point-scatterer park of that density, or `uniform_park` for "uniform"."""
    if model == "uniform":
        return uniform_park(vv, vh, footprint, rng)
    if model not in MODELS:
        raise ValueError(f"radar_park: model={model!r}, expected one of {', '.join(MODELS)}")
    return point_scatterer_park(vv, vh, footprint, pixel_m, model, rng)  # type: ignore[arg-type]


def _grid(
    reach: float, du: float, dv: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes every `du` along u and `dv` along v covering a disc of radius `reach`, shifted by
    a random fraction of a pitch (so a park does not always start on a pixel corner)."""
    nu, nv = int(np.ceil(reach / du)) + 1, int(np.ceil(reach / dv)) + 1
    ou, ov = rng.uniform(0.0, du), rng.uniform(0.0, dv)
    gu, gv = np.meshgrid(np.arange(-nu, nu + 1) * du + ou, np.arange(-nv, nv + 1) * dv + ov)
    return gu.ravel(), gv.ravel()


def _no_vehicles(shape: tuple[int, int], pixel_m: float, per_ha: float) -> Vehicles:
    e_i, e_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
    return Vehicles(shape, float(pixel_m), e_i, e_i, e_f, e_f, e_f, e_f, e_f, e_f, per_ha)
