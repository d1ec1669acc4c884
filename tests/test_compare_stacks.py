"""`pipeline compare --before FILE... --after FILE...`: stacks of the user's own acquisitions.

Files are written from the real Sentinel-2 / Sentinel-1 series of Flanders farmland in
tests/data/timeseries (one GeoTIFF per acquisition, bands named in their descriptions, SCL
included, dates in the TIFFTAG_DATETIME tag or the file name), and go through the CLI."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from pipeline.cli.main import main
from tests.support import parks

ROOT = Path(__file__).resolve().parent.parent
CROP = ROOT / "tests" / "data" / "timeseries" / "flanders_B.npz"
TRANSFORM = from_origin(574680.0, 5622440.0, 10.0, 10.0)  # the chip's UTM 31N corner
PARK_DATE = 18  # 2019-04-16, clear; the 120 days before it hold 9 usable dates
S2_BANDS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16"}


def _day(d: float) -> date:
    return date(1970, 1, 1) + timedelta(days=float(d))


@pytest.fixture(scope="module")
def series() -> dict[str, np.ndarray]:
    z = np.load(CROP)
    up = lambda a: np.repeat(np.repeat(a, 2, axis=-2), 2, axis=-1)  # noqa: E731 (20 m -> 10 m)
    return {
        "B02": z["s2_B02"],
        "B03": z["s2_B03"],
        "B04": z["s2_B04"],
        "B08": z["s2_B08"],
        "B11": up(z["s2_B11"]),
        "SCL": up(z["s2_scl"]),
        "days": z["s2_days"],
        "VV": z["s1_VV"] / 100.0,  # dB
        "VH": z["s1_VH"] / 100.0,
        "s1_days": z["s1_days"],
    }


def write(
    path: Path,
    bands: dict[str, np.ndarray],
    tags: dict[str, str] | None = None,
    pixel: float = 10.0,
    dtype: str = "uint16",
    units: str | None = None,
) -> Path:
    names = list(bands)
    h, w = bands[names[0]].shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=len(names),
        dtype=dtype,
        crs="EPSG:32631",
        transform=from_origin(574680.0, 5622440.0, pixel, pixel),
        nodata=0 if dtype == "uint16" else None,
    ) as dst:
        for i, n in enumerate(names, 1):
            dst.write(bands[n].astype(dtype), i)
            dst.set_band_description(i, n)
            if units:
                dst.set_band_unit(i, units)
        if tags:
            dst.update_tags(**tags)
    return path


def s2_file(
    folder: Path,
    s: dict[str, np.ndarray],
    i: int,
    by_tag: bool = False,
    override: dict[str, np.ndarray] | None = None,
) -> Path:
    d = _day(s["days"][i])
    bands = {k: (override or {}).get(k, s[k][i]) for k in (*S2_BANDS, "SCL")}
    if by_tag:
        return write(
            folder / f"acq{i:02d}.tif", bands, {"TIFFTAG_DATETIME": f"{d:%Y:%m:%d} 10:50:00"}
        )
    return write(folder / f"S2_{d:%Y%m%d}.tif", bands)


def with_park(s: dict[str, np.ndarray], i: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    refl = {name: s[b][i] / 1e4 for b, name in S2_BANDS.items()}
    parked, foot = parks.insert_park(refl, (22, 22), 1.5e4, 10.0, np.random.default_rng(0))
    out = {b: np.clip(np.round(parked[name] * 1e4), 1, 65535) for b, name in S2_BANDS.items()}
    return out, foot


def before_indices(s: dict[str, np.ndarray], i: int, days: float = 120) -> list[int]:
    d = s["days"]
    return [int(j) for j in np.flatnonzero((d < d[i]) & (d >= d[i] - days))]


def test_optical_stacks_use_the_reference_period_and_find_the_park(
    series: dict[str, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = before_indices(series, PARK_DATE)
    before = [s2_file(tmp_path, series, j, by_tag=(k % 2 == 0)) for k, j in enumerate(idx)]
    parked, foot = with_park(series, PARK_DATE)
    after = s2_file(tmp_path, series, PARK_DATE, override=parked)
    out = tmp_path / "out"
    args = ["compare", "--before", *map(str, before), "--after", str(after), "--out", str(out)]
    auto = tmp_path / "auto"
    assert main([*args[:-1], str(auto)]) == 0  # optical under auto: two dates, and it says why
    said = json.loads((auto / "report.json").read_text())["detection"]
    assert said["approach"] == "two-date" and "costs recall" in said["notes"][0]
    assert main([*args, "--detection", "reference"]) == 0
    assert "reference-period" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["detection"]["approach"] == "reference-period"
    assert report["detection"]["detector"] == "reference"
    assert report["detection"]["usable"]["before"] == len(idx) >= 4
    dates = [w["date"] for w in report["windows"]["before"]]
    assert dates == sorted(dates) and dates[0] == _day(series["days"][idx[0]]).isoformat()
    assert {w["date_from"] for w in report["windows"]["before"]} == {
        "TIFFTAG_DATETIME",
        "file name",
    }
    # the picture shown (and compared two-date) is the clearest, of equally clear ones the
    # latest before the change (here several dates are wholly clear)
    clearest = max(w["clear_fraction"] for w in report["windows"]["before"])
    tied = [w for w in report["windows"]["before"] if w["clear_fraction"] == clearest]
    assert len(tied) > 1
    assert report["shown"]["before"] == max(tied, key=lambda w: w["date"])["file"]
    with rasterio.open(out / "change.tif") as c:
        klass = c.read(1)
    found = klass[foot]
    assert (found == 1).mean() >= 1 / 3  # the park, appeared
    assert (klass[~foot & (klass != 255)] > 0).mean() < 0.05


def test_a_cloudy_file_is_masked_by_its_scl_not_refused(
    series: dict[str, np.ndarray], tmp_path: Path
) -> None:
    idx = before_indices(series, PARK_DATE)
    before = [s2_file(tmp_path, series, j) for j in idx]
    cloudy = {k: series[k][idx[0]] for k in (*S2_BANDS, "SCL")}
    cloudy["SCL"] = np.full_like(cloudy["SCL"], 9)  # cloud, high probability, everywhere
    cloudy["B02"] = np.full_like(cloudy["B02"], 9000)
    before.append(write(tmp_path / "S2_2019-01-01.tif", cloudy))
    after = s2_file(tmp_path, series, PARK_DATE)
    out = tmp_path / "out"
    assert (
        main(["compare", "--before", *map(str, before), "--after", str(after), "--out", str(out)])
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    rec = next(w for w in report["windows"]["before"] if w["file"] == "S2_2019-01-01.tif")
    assert rec["clear_fraction"] == 0.0 and rec["cloud_mask"] is True
    assert report["shown"]["before"] != "S2_2019-01-01.tif"  # the panel shows a clear one
    assert report["change"]["regions"] == 0  # a cloud the SCL marks is never change


def test_two_files_per_window_fall_back_to_two_dates_and_say_so(
    series: dict[str, np.ndarray], tmp_path: Path
) -> None:
    idx = before_indices(series, PARK_DATE)[-2:]
    before = [s2_file(tmp_path, series, j) for j in idx]
    parked, foot = with_park(series, PARK_DATE)
    after = s2_file(tmp_path, series, PARK_DATE, override=parked)
    out = tmp_path / "out"
    args = ["compare", "--before", *map(str, before), "--after", str(after), "--out", str(out)]
    assert main([*args, "--detection", "reference"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["detection"]["approach"] == "two-date"
    assert any("fewer than the 4" in n for n in report["detection"]["notes"])


@pytest.mark.parametrize("units", ["dB", "linear"])
def test_radar_stacks_in_db_or_linear(
    series: dict[str, np.ndarray], tmp_path: Path, units: str
) -> None:
    days = series["s1_days"]
    test_i = 60
    idx = [int(j) for j in np.flatnonzero((days < days[test_i]) & (days >= days[test_i] - 60))]
    foot = np.zeros((16, 16), bool)
    foot[4:12, 4:12] = True  # 64 px at 20 m: 2.56 ha

    def radar(i: int, bright: bool = False) -> Path:
        db = {k: series[k][i] + (np.where(foot, 8.0, 0.0) if bright else 0.0) for k in ("VV", "VH")}
        d = _day(days[i])
        if units == "dB":  # said by the UNITS tag
            return write(tmp_path / f"S1_{d:%Y%m%d}.tif", db, {"UNITS": "dB"}, 20.0, "float32")
        lin = {k: np.power(10.0, v / 10.0) for k, v in db.items()}  # no tag: values say linear
        return write(tmp_path / f"S1_{d:%Y%m%d}.tif", lin, None, 20.0, "float32")

    before = [radar(j) for j in idx]
    after = radar(test_i, bright=True)
    out = tmp_path / "out"
    assert (
        main(["compare", "--before", *map(str, before), "--after", str(after), "--out", str(out)])
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert {w["kind"] for w in report["windows"]["before"]} == {"radar"}
    assert {w["units"] for w in report["windows"]["after"]} == {units}
    assert report["detection"]["approach"] == "reference-period"
    with rasterio.open(out / "change.tif") as c:
        klass = c.read(1)
    assert (klass[foot] == 1).mean() >= 0.5
    assert (klass[~foot] == 1).mean() < 0.05


def test_optical_and_radar_files_are_not_mixed(
    series: dict[str, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opt = s2_file(tmp_path, series, PARK_DATE)
    rad = write(
        tmp_path / "S1_20190420.tif",
        {"VV": series["VV"][60], "VH": series["VH"][60]},
        {"UNITS": "dB"},
        20.0,
        "float32",
    )
    code = main(
        ["compare", "--before", str(opt), "--after", str(rad), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "optical and radar images mixed" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
