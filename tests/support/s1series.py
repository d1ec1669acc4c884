"""Real Sentinel-1 series as the files a user brings, or behind a static STAC catalogue; a vehicle
park put in as point scatterers (benchmarks.parkmodel: the physics is written down there).

- `flanders_b()`: tests/data/timeseries/flanders_B.npz (always there): 80 acquisitions, one
  relative orbit (S1A and S1B, 17:31-17:32 UTC), 16 x 16 px at 20 m of Flanders farmland.
- `flanders_b_chip()`: tests/data/timeseries/flanders_B_s1_chip.npz (always there): the radar of
  the whole chip, 32 x 32 px at 20 m (the crop above is its south-east quarter); a footprint at
  `CENTRE` has its whole ring (40-160 m) on it, as the pipeline reads a site.
- `worldcereal(shared, chip)`: a whole chip of ../shared/data (32 x 32 px at 20 m)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine
from pyproj import Transformer

from benchmarks import parkmodel

ROOT = Path(__file__).resolve().parents[2]
NPZ = ROOT / "tests" / "data" / "timeseries" / "flanders_B.npz"
CHIP_NPZ = NPZ.with_name("flanders_B_s1_chip.npz")
CENTRE = (13, 13)
"""Row and column of a 5 x 5 px (1 ha) footprint's corner on `flanders_b_chip` whose ring lies
wholly on the chip (8 px = 160 m on every side)."""
EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class S1Series:
    times: list[dt.datetime]
    vv_db: np.ndarray  # (t, h, w) float32, NaN no data
    vh_db: np.ndarray
    crs: str
    transform: Affine

    @property
    def shape(self) -> tuple[int, int]:
        return self.vv_db.shape[1], self.vv_db.shape[2]

    @property
    def pixel_m(self) -> float:
        return float(self.transform.a)

    def subset(self, idx: list[int] | range) -> S1Series:
        return replace(
            self, times=[self.times[i] for i in idx], vv_db=self.vv_db[idx], vh_db=self.vh_db[idx]
        )


def _times(days: np.ndarray) -> list[dt.datetime]:
    return [(EPOCH + dt.timedelta(days=float(d))).replace(microsecond=0) for d in days]


def flanders_b() -> S1Series:
    z = np.load(NPZ)
    vv = z["s1_VV"].astype(np.float32) / 100
    vh = z["s1_VH"].astype(np.float32) / 100
    # the crop is rows/cols 16..31 of the 20 m chip whose corner is (574680, 5622440), UTM 31N
    left, top = 574680.0 + 16 * 20, 5622440.0 - 16 * 20
    return S1Series(_times(z["s1_days"]), vv, vh, "EPSG:32631", Affine(20, 0, left, 0, -20, top))


def park_at(s: S1Series) -> tuple[int, int]:
    """Where the tests' 1 ha footprint lies: `CENTRE` on the whole chip, rows and columns 5-9
    on the quarter crop."""
    return CENTRE if s.shape == (32, 32) else (5, 5)


def flanders_b_chip() -> S1Series:
    z = np.load(CHIP_NPZ)
    vv = z["s1_VV"].astype(np.float32) / 100
    vh = z["s1_VH"].astype(np.float32) / 100
    return S1Series(
        _times(z["s1_days"]), vv, vh, "EPSG:32631", Affine(20, 0, 574680.0, 0, -20, 5622440.0)
    )


def worldcereal(shared: Path, chip: str) -> S1Series:
    import netCDF4  # the dev extra's NetCDF reader: only the shared-data tests read NetCDF

    folder = shared / "timeseries" / "worldcereal" / chip
    ds = netCDF4.Dataset(next(folder.glob("S1_GRD-*.nc")))
    ds.set_auto_maskandscale(False)
    t = ds["timestamp"]
    days = netCDF4.date2num(netCDF4.num2date(t[:], t.units), "days since 1970-01-01")
    out = {}
    for b in ("VV", "VH"):
        raw = np.asarray(ds[b][:])
        db = raw.astype(np.float32) * np.float32(1e-4)
        db[raw == 0] = np.nan
        out[b] = db
    bounds = ds.getncattr("bounds")  # "(w, s, e, n)" as text, or numbers
    if isinstance(bounds, str):
        bounds = bounds.strip("()[] ").split(",")
    w, s, e, n = (float(v) for v in np.asarray(bounds).ravel()[:4])
    h = out["VV"].shape[1]
    px = (n - s) / h
    crs = f"EPSG:{int(ds.getncattr('epsg'))}"
    return S1Series(
        _times(np.asarray(days)), out["VV"], out["VH"], crs, Affine(px, 0, w, 0, -px, n)
    )


def square(shape: tuple[int, int], row: int, col: int, size: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[row : row + size, col : col + size] = True
    return m


def with_park(
    s: S1Series, footprint: np.ndarray, on: range, density: str = "dense", seed: int = 27
) -> S1Series:
    """The series with a park on `footprint` on the dates `on` (one layout; fresh speckle on
    every date)."""
    rng = np.random.default_rng(seed)
    vehicles = parkmodel.layout_vehicles(footprint, s.pixel_m, density, rng)  # type: ignore[arg-type]
    vv, vh = s.vv_db.copy(), s.vh_db.copy()
    for i in on:
        lv, lh = 10 ** (vv[i] / 10), 10 ** (vh[i] / 10)
        nv, nh = parkmodel.add_vehicles(lv, lh, vehicles, rng)
        vv[i], vh[i] = 10 * np.log10(nv), 10 * np.log10(nh)
    return replace(s, vv_db=vv.astype(np.float32), vh_db=vh.astype(np.float32))


def lonlat_corners(s: S1Series, mask: np.ndarray) -> list[list[float]]:
    """The mask's bounding box (pixel edges) as [lon, lat] corners."""
    rows, cols = np.nonzero(mask)
    to_ll = Transformer.from_crs(s.crs, "EPSG:4326", always_xy=True)
    corners = []
    for r, c in (
        (rows.min(), cols.min()),
        (rows.min(), cols.max() + 1),
        (rows.max() + 1, cols.max() + 1),
        (rows.max() + 1, cols.min()),
    ):
        x, y = s.transform * (c, r)
        corners.append([float(v) for v in to_ll.transform(x, y)])
    return corners


def footprint_geojson(path: Path, s: S1Series, mask: np.ndarray, name: str = "park") -> Path:
    """The mask's bounding box as a lon/lat polygon feature (pixel edges)."""
    corners = lonlat_corners(s, mask)
    corners.append(corners[0])
    feature = {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon", "coordinates": [corners]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def write_files(folder: Path, s: S1Series, tag_time: bool = True) -> list[Path]:
    """One GeoTIFF per acquisition: VV and VH sigma0 in dB (UNITS=dB), the time in
    TIFFTAG_DATETIME (or, without `tag_time`, only the date in the file name)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, vv, vh in zip(s.times, s.vv_db, s.vh_db, strict=True):
        name = f"S1_{t:%Y%m%dT%H%M%S}.tif" if tag_time else f"S1_{t:%Y-%m-%d}.tif"
        p = folder / name
        profile = {
            "driver": "GTiff",
            "width": s.shape[1],
            "height": s.shape[0],
            "count": 2,
            "dtype": "float32",
            "crs": s.crs,
            "transform": s.transform,
            "nodata": float("nan"),
        }
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(np.stack([vv, vh]).astype(np.float32))
            dst.set_band_description(1, "VV")
            dst.set_band_description(2, "VH")
            tags = {"UNITS": "dB"}
            if tag_time:
                tags["TIFFTAG_DATETIME"] = f"{t:%Y:%m:%d %H:%M:%S}"
            dst.update_tags(**tags)
        paths.append(p)
    return paths


def rtc_catalogue(folder: Path, series: S1Series | list[S1Series], orbit: int = 88) -> Path:
    """A static STAC catalogue of `sentinel-1-rtc` items, one per acquisition (and place, given
    several series: ids end `_p0`, `_p1`, ...), VV and VH as linear gamma0 GeoTIFFs on the
    series' grid (what Planetary Computer serves, map-projected)."""
    places = series if isinstance(series, list) else [series]
    cat = pystac.Catalog("s1-series", "real Sentinel-1 acquisitions of farmland chips")
    for k, s in enumerate(places):
        suffix = f"_p{k}" if isinstance(series, list) else ""
        to_ll = Transformer.from_crs(s.crs, "EPSG:4326", always_xy=True)
        h, w = s.shape
        x0, y0 = s.transform * (0, 0)
        x1, y1 = s.transform * (w, h)
        (lw, ln), (le, ls) = to_ll.transform(x0, y0), to_ll.transform(x1, y1)
        bbox = [min(lw, le), min(ls, ln), max(lw, le), max(ls, ln)]
        ring = [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]]
        props = {
            "platform": "sentinel-1a",
            "sar:instrument_mode": "IW",
            "sat:relative_orbit": orbit,
        }
        for t, vv, vh in zip(s.times, s.vv_db, s.vh_db, strict=True):
            item_id = f"S1A_IW_GRDH_1SDV_{t:%Y%m%dT%H%M%S}_rtc{suffix}"
            d = folder / item_id
            d.mkdir(parents=True)
            item = pystac.Item(
                item_id,
                {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                bbox,
                t.replace(tzinfo=dt.UTC),
                dict(props),
                collection="sentinel-1-rtc",
            )
            for key, db in (("vv", vv), ("vh", vh)):
                p = d / f"{key}.tif"
                profile = {
                    "driver": "GTiff",
                    "width": w,
                    "height": h,
                    "count": 1,
                    "dtype": "float32",
                    "crs": s.crs,
                    "transform": s.transform,
                    "nodata": float("nan"),
                }
                with rasterio.open(p, "w", **profile) as dst:
                    dst.write((10 ** (db / 10)).astype(np.float32), 1)
                item.add_asset(key, pystac.Asset(str(p)))
            cat.add_item(item)
    cat.normalize_hrefs(str(folder / "catalog"))
    cat.save(catalog_type=pystac.CatalogType.ABSOLUTE_PUBLISHED)
    return folder / "catalog" / "catalog.json"


def flanders_config(
    s: S1Series, catalogue: str, claim_at: int = 40, aoi: str = "tltest", **more: Any
) -> dict[str, Any]:
    """An AOI config over the Flanders crop or chip: one site (all of it) with a 1 ha footprint
    (5 x 5 px at `park_at`), one claim dated at acquisition `claim_at` with Sentinel-1 RTC
    windows (the six acquisitions before it, the twelve after), its catalogue at `catalogue`;
    `more` added."""
    t = [x.date() for x in s.times]
    window = {"sensor": "sentinel-1-rtc"}
    return {
        "aoi": aoi,
        "title": f"{aoi} (real Sentinel-1, Flanders farmland)",
        "catalog": {"kind": "static", "url": catalogue},
        "sites": [
            {
                "id": "flanders",
                "name": "Flanders farmland crop",
                "polygon": lonlat_corners(s, square(s.shape, 0, 0, s.shape[0])),
                "footprint": lonlat_corners(s, square(s.shape, *park_at(s), 5)),
                "approximate": False,
                "source": "tests/data/timeseries/"
                + (CHIP_NPZ if s.shape == (32, 32) else NPZ).name,
            }
        ],
        "claims": [
            {
                "id": "left",
                "date": str(t[claim_at]),
                "statement": "(test) the vehicles have left",
                "source": "made up for the test",
                "windows": {
                    "before": {"start": str(t[claim_at - 6]), "end": str(t[claim_at - 1])} | window,
                    "after": {"start": str(t[claim_at + 1]), "end": str(t[claim_at + 12])} | window,
                },
            }
        ],
        **more,
    }


def write_s2_files(folder: Path) -> list[Path]:
    """The Flanders crop's 39 Sentinel-2 L2A acquisitions (the same ground as `flanders_b`), one
    GeoTIFF each: B02 B03 B04 B08 at 10 m (uint16 reflectance x 1e4) and SCL (20 m, repeated
    2 x 2), the acquisition time in TIFFTAG_DATETIME."""
    z = np.load(NPZ)
    folder.mkdir(parents=True, exist_ok=True)
    left, top = 574680.0 + 32 * 10, 5622440.0 - 32 * 10
    transform = Affine(10, 0, left, 0, -10, top)
    paths = []
    for i, t in enumerate(_times(z["s2_days"])):
        scl = np.repeat(np.repeat(z["s2_scl"][i], 2, axis=0), 2, axis=1)
        planes = [z[f"s2_{b}"][i] for b in ("B02", "B03", "B04", "B08")] + [scl.astype(np.uint16)]
        p = folder / f"S2_{t:%Y%m%dT%H%M%S}.tif"
        profile = {
            "driver": "GTiff",
            "width": 32,
            "height": 32,
            "count": 5,
            "dtype": "uint16",
            "crs": "EPSG:32631",
            "transform": transform,
            "nodata": 0,
        }
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(np.stack(planes))
            dst.descriptions = ("B02", "B03", "B04", "B08", "SCL")
            dst.update_tags(TIFFTAG_DATETIME=f"{t:%Y:%m:%d %H:%M:%S}")
        paths.append(p)
    return paths
