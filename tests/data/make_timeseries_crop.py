"""Rebuild tests/data/timeseries/flanders_B.npz and flanders_B_s1_chip.npz from ../shared/data
(run from the project root).

    .venv/bin/python tests/data/make_timeseries_crop.py

Source: WorldCereal chip 0000280849BAC91C (Flanders farmland), files S2_L2A_10m_*.nc (B02 B03 B04
B08 at 10 m), S2_L2A_20m_*.nc (B11 B12 SCL at 20 m) and S1_GRD-ASCENDING_20m_*.nc (VV VH sigma0
dB x 1e4) of ../shared/data/timeseries/worldcereal/. Cut: optical rows/cols 32..63 of the 10 m grid
(32 x 32 px = 320 x 320 m, the south-east quarter: meadow and arable parcels) and the same ground
at 20 m (rows/cols 16..31), the dates at least half clear over the crop (SCL); radar rows/cols
16..31 (16 x 16 px at 20 m, the same ground), every date. flanders_B_s1_chip.npz: the radar of
the whole chip (32 x 32 px at 20 m), every date: a footprint at its centre has its whole ring
(40-160 m) on the chip, as the pipeline reads it (the quarter cuts it at the crop's edge).
Values as stored (uint16 reflectance x 1e4, fill 0; SCL as is; radar rounded to dB x 100, int16).
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT.parent / "shared" / "data" / "timeseries" / "worldcereal" / "0000280849BAC91C"
OUT = ROOT / "tests" / "data" / "timeseries" / "flanders_B.npz"
CHIP = OUT.with_name("flanders_B_s1_chip.npz")
R10 = slice(32, 64)
R20 = slice(16, 32)


def _open(pattern: str) -> netCDF4.Dataset:
    ds = netCDF4.Dataset(next(SRC.glob(pattern)))
    ds.set_auto_maskandscale(False)
    return ds


def _days(ds: netCDF4.Dataset) -> np.ndarray:
    t = ds["timestamp"]
    return np.asarray(netCDF4.date2num(netCDF4.num2date(t[:], t.units), "days since 1970-01-01"))


def main() -> None:
    d10, d20, d1 = _open("S2_L2A_10m_*.nc"), _open("S2_L2A_20m_*.nc"), _open("S1_GRD-*.nc")
    scl = np.asarray(d20["SCL"][:, R20, R20])
    bad = np.isin(scl, [0, 1, 3, 8, 9, 10, 11])
    keep = np.flatnonzero(bad.reshape(len(scl), -1).mean(1) <= 0.5)
    opt = {b: np.asarray(d10[b][keep, R10, R10]) for b in ("B02", "B03", "B04", "B08")}
    opt |= {b: np.asarray(d20[b][keep, R20, R20]) for b in ("B11", "B12")}
    rad = {
        b: np.round(np.asarray(d1[b][:, R20, R20], np.float64) / 100).astype(np.int16)
        for b in ("VV", "VH")
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        s2_days=_days(d10)[keep],
        s2_scl=scl[keep],
        s1_days=_days(d1),
        **{f"s2_{k}": v for k, v in opt.items()},
        **{f"s1_{k}": v for k, v in rad.items()},
    )
    whole = {
        b: np.round(np.asarray(d1[b][:], np.float64) / 100).astype(np.int16) for b in ("VV", "VH")
    }
    np.savez_compressed(CHIP, s1_days=_days(d1), **{f"s1_{k}": v for k, v in whole.items()})
    print(f"{CHIP}: {len(whole['VV'])} radar dates, {CHIP.stat().st_size / 1024:.0f} KB")
    print(
        f"{OUT}: {len(keep)} optical dates, {len(rad['VV'])} radar dates, "
        f"{OUT.stat().st_size / 1024:.0f} KB"
    )


if __name__ == "__main__":
    main()
