"""Sentinel-1 GRD warped through its ground control points onto a UTM grid (pipeline/radar.py).

Real data: a Sentinel-1A IW GRD scene (2018-07-16, south India) from rio-tiler-pds's fixtures in
../shared/data/crops/, downsampled by its publisher to 1280x837 px, georeferenced only by 210 GCPs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform
from scipy.ndimage import map_coordinates

from pipeline.model.grid import plan_grid
from pipeline.model.scene import Asset, Scene
from pipeline.model.sensors import SENSORS
from pipeline.read import radar
from pipeline.read.scenes import read_scene
from tests.support.catalogue import grd_item, save_catalog
from tests.support.httpserver import HTTPTestServer

GRD = (
    "crops/rio-tiler-pds/sentinel-s1-l1c/GRD/2018/7/16/IW/DV/"
    "S1A_IW_GRDH_1SDV_20180716T004042_20180716T004107_022812_02792A_FD5B/measurement"
)


@pytest.fixture(scope="module")
def grd(shared_data: Path) -> Path:
    return shared_data / GRD


def _gcp_errors(grd: Path, shift_deg: float) -> tuple[np.ndarray, int]:
    """|warped − source| in dB at every GCP inside a 44 km grid, with the GCPs' lon/lat moved by
    `shift_deg` east before looking them up on the grid (0: the true positions)."""
    with rasterio.open(grd / "iw-vv.tiff") as src:
        gcps, crs = src.gcps
        full = src.read(1).astype(np.float64) ** 2
    g = gcps[100]  # an interior GCP
    grid = plan_grid((g.x - 0.2, g.y - 0.2, g.x + 0.2, g.y + 0.2), 50)
    with rasterio.open(grd / "iw-vv.tiff") as src:
        power = radar.grd_power(src, grid)
    inv = ~grid.transform
    errs = []
    for p in gcps:
        x, y = transform(crs, grid.crs, [p.x + shift_deg], [p.y])
        col, row = inv * (x[0], y[0])
        if 2 <= row < grid.height - 2 and 2 <= col < grid.width - 2:
            # GCP rows/cols are pixel-corner coordinates; arrays are indexed at pixel centres
            warped = map_coordinates(power, [[row - 0.5], [col - 0.5]], order=1)[0]
            source = map_coordinates(full, [[p.row - 0.5], [p.col - 0.5]], order=1)[0]
            errs.append(abs(10 * np.log10(warped) - 10 * np.log10(source)))
    return np.array(errs), len(errs)


def test_grd_lands_where_its_ground_control_points_say(grd: Path) -> None:
    errs, n = _gcp_errors(grd, 0.0)
    assert n >= 4
    # at each GCP's lon/lat the warped image holds the source's value at the GCP's row/col
    assert np.median(errs) < 0.1 and errs.max() < 0.5, errs
    # and the comparison can tell: 1 km off (0.01 degree) the values no longer match
    off, _ = _gcp_errors(grd, 0.01)
    assert np.median(off) > 3 * max(np.median(errs), 0.05), (errs, off)


def test_grd_window_is_a_small_part_of_the_scene(grd: Path) -> None:
    with rasterio.open(grd / "iw-vv.tiff") as src:
        gcps, crs = src.gcps
        win = radar.gcp_window(gcps, crs, plan_grid((76.2, 10.37, 76.26, 10.43), 10), 1280, 837)
    assert win is not None
    assert win.width * win.height < 0.01 * 1280 * 837  # a 6 km site: well under 1 % of the scene
    outside = radar.gcp_window(gcps, crs, plan_grid((10.0, 50.0, 10.06, 50.05), 10), 1280, 837)
    assert outside is None


def test_read_scene_reads_grd_over_http_as_labelled_db(
    grd: Path, http_server: HTTPTestServer
) -> None:
    """The pipeline's radar branch: a sentinel-1-grd scene whose vv/vh hrefs are served over HTTP
    (range requests) comes back as VV, VH and VV−VH in dB, labelled uncalibrated."""
    base = http_server.mount(f"/{uuid.uuid4().hex[:10]}/grd", grd)
    scene = Scene(
        id="S1A_IW_GRDH_1SDV_20180716T004042_20180716T004107_022812_02792A_FD5B",
        collection="sentinel-1-grd",
        datetime=dt.datetime(2018, 7, 16, 0, 40, 42, tzinfo=dt.UTC),
        platform="sentinel-1a",
        cloud_cover=None,
        # vh from disk: opening this iw-vh.tiff through /vsicurl/ from the in-process test server
        # hangs (GDAL 3.10.3, rasterio 1.4.4) after the first 16 KiB range; served by the same
        # server code in a separate process it reads fine, so it is the test harness (GDAL and the
        # server thread in one interpreter), not the reader.
        assets={"vv": Asset(f"{base}/iw-vv.tiff"), "vh": Asset(str(grd / "iw-vh.tiff"))},
    )
    grid = plan_grid((76.18, 10.35, 76.24, 10.41), 10)
    img = read_scene(scene, SENSORS["sentinel-1-grd"], grid)
    assert set(img.bands) == {"vv", "vh", "vv_vh"}
    assert img.clear.mean() > 0.99  # inside the swath; radar has no clouds
    vv, vh = img.bands["vv"][img.clear], img.bands["vh"][img.clear]
    assert np.isfinite(vv).all() and np.isfinite(vh).all()
    # uncalibrated 10*log10(DN^2) of 16-bit amplitude: between 0 and 96 dB
    assert np.percentile(vh, 1) > 0 and np.percentile(vv, 99) < 96
    # cross-polarised returns are weaker than co-polarised ones over land: several dB
    assert 3 < float(np.median(vv) - np.median(vh)) < 15
    assert any("uncalibrated" in n for n in img.notes)
    served = http_server.stats(base.removeprefix(http_server.base) + "/iw-vv.tiff")
    assert served.partial > 0  # range requests, not the whole file


def test_to_db() -> None:
    out = radar.to_db(np.array([1.0, 10.0, 0.01, 0.0, -1.0, np.nan]))
    np.testing.assert_allclose(out[:3], [0.0, 10.0, -20.0], atol=1e-6)
    assert np.isnan(out[3:]).all()


def _grd_copy(
    src_dir: Path, dst_dir: Path, bright_at: tuple[float, float] | None, speckle: int | None = None
) -> Path:
    """The real GRD pair (VV, VH) copied with its GCPs; with `bright_at` (lon, lat), a 3 x 3 block
    of source pixels (~600 m) there is set to strong returns, like a park of vehicles (metal);
    with `speckle` (a seed), fresh multiplicative speckle (gamma, 20 looks) as a later pass of the
    satellite would have, so that two dates are not one picture."""
    from rasterio.transform import GCPTransformer

    dst_dir.mkdir(parents=True)
    for name in ("iw-vv.tiff", "iw-vh.tiff"):
        with rasterio.open(src_dir / name) as src:
            data = src.read(1)
            gcps, crs = src.gcps
            profile = {k: v for k, v in src.profile.items() if k not in ("transform", "crs")}
        if bright_at is not None:
            row, col = GCPTransformer(gcps).rowcol(*bright_at)
            data = data.copy()
            data[row - 1 : row + 2, col - 1 : col + 2] = np.percentile(data, 99.9) * 3
        if speckle is not None:
            looks = np.random.default_rng(speckle).gamma(20.0, 1 / 20.0, data.shape)
            data = np.clip(data * np.sqrt(looks), 1, 65535).astype(data.dtype)
        with rasterio.open(dst_dir / name, "w", **profile, gcps=gcps, crs=crs) as dst:
            dst.write(data, 1)
    return dst_dir


@pytest.mark.slow
@pytest.mark.parametrize(
    ("after_has_park", "verdict"), [(True, "not_supported"), (False, "supported")]
)
def test_radar_claim_end_to_end(
    grd: Path,
    tmp_path: Path,
    after_has_park: bool,
    verdict: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A claim checked on Sentinel-1 alone (what winter cloud leaves): baseline = the real GRD,
    before = the same with strong returns inserted at the site (ids say so), after = with or
    without them. The run uses the log-ratio detector on Lee-filtered intensity."""
    import json

    import yaml

    from pipeline.cli.main import main

    centre = (76.21, 10.38)
    dates = {
        "baseline": ("S1_20180716_real", None, dt.datetime(2018, 7, 16, 0, 40, tzinfo=dt.UTC)),
        "before": (
            "S1_20180716_WITH_STRONG_RETURNS_RESERVED_AS_20180809",
            centre,
            dt.datetime(2018, 8, 9, 0, 40, tzinfo=dt.UTC),
        ),
        "after": (
            "S1_20180716_WITH_STRONG_RETURNS_RESPECKLED_RESERVED_AS_20180902"
            if after_has_park
            else "S1_20180716_RESPECKLED_RESERVED_AS_20180902",
            centre if after_has_park else None,
            dt.datetime(2018, 9, 2, 0, 40, tzinfo=dt.UTC),
        ),
    }
    # A decoy in the before window, nearer the claim date but seen from another relative orbit
    # (the real GRD without the strong returns): radar windows must share one orbit, so it is
    # never used; if it were, the footprint would vanish and the verdict change.
    decoy = ("S1_20180716_real_RESERVED_AS_ORBIT_77", None, dt.datetime(2018, 8, 14, tzinfo=dt.UTC))
    items = []
    for item_id, bright, when in [*dates.values(), decoy]:
        folder = _grd_copy(grd, tmp_path / item_id, bright, 3 if "RESPECKLED" in item_id else None)
        orbit = 77 if "ORBIT_77" in item_id else 5
        items.append(grd_item(folder, item_id, when, orbit))
    save_catalog(
        tmp_path / "catalog",
        items,
        "real Sentinel-1 GRD with inserted strong returns",
        "radar-case",
    )
    w = lambda start, end: {"start": start, "end": end, "sensor": "sentinel-1-grd"}  # noqa: E731
    cfg = {
        "aoi": "radar",
        "title": "radar case",
        "catalog": {"kind": "static", "url": str(tmp_path / "catalog" / "catalog.json")},
        "sites": [
            {
                "id": "kerala",
                "name": "Kerala test site",
                "point": {"lat": centre[1], "lon": centre[0]},
                "box_km": 6,
                "approximate": False,
                "source": "the real GRD crop's footprint",
            }
        ],
        "claims": [
            {
                "id": "left",
                "date": "2018-08-20",
                "statement": "(test) the vehicles have left",
                "source": "made up for the test",
                "windows": {
                    "baseline": w("2018-07-10", "2018-07-20"),
                    "before": w("2018-08-01", "2018-08-15"),
                    "after": w("2018-08-25", "2018-09-10"),
                },
            }
        ],
    }
    path = tmp_path / "radar.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "out"
    assert main(["run", "--config", str(path), "--out", str(out)]) == 0
    r = json.loads((out / "radar" / "kerala" / "left" / "report.json").read_text())
    assert r["detection"]["detector"] == "s1-logratio"
    assert r["verdict"] == verdict, r["reasons"]
    assert r["numbers"]["footprint_area_m2"] > 50_000  # the inserted strong returns
    assert any("uncalibrated" in n for n in r["images"]["before"]["notes"])
    assert r["images"]["before"]["scene_id"] == dates["before"][0]  # not the other orbit's decoy
    # `pipeline scenes` says, before anything is read, what kind of backscatter each scene gives
    capsys.readouterr()
    assert main(["scenes", "--config", str(path)]) == 0
    listing = capsys.readouterr().out
    assert listing.count("backscatter: uncalibrated") == 4, listing
    # radar windows are stacked under detection auto: each says if it can be a reference period
    assert "too few for a reference period (needs 4; detection auto)" in listing, listing


def _s1(day: int, orbit: int | None) -> Scene:
    props = {} if orbit is None else {"sat:relative_orbit": orbit}
    when = dt.datetime(2022, 2, day, tzinfo=dt.UTC)
    return Scene(f"S1A_{day}_{orbit}", "sentinel-1-grd", when, "sentinel-1a", None, {}, None, props)


def test_radar_windows_share_one_relative_orbit() -> None:
    from pipeline.plan.scenes import common_orbit

    claim = dt.date(2022, 2, 15)
    found = {
        "baseline": [_s1(1, 21), _s1(3, 94)],
        "before": [_s1(8, 21), _s1(10, 94), _s1(13, 123)],
        "after": [_s1(20, 21), _s1(17, 123), _s1(22, 94)],
    }
    # 21 and 94 pass in every window; 123 does not. Days from the claim: 94 has 12 + 5 + 7 = 24,
    # 21 has 14 + 7 + 5 = 26, so 94.
    assert common_orbit(found, claim) == (94, None)
    # no orbit in common: refused, saying which orbits each window has
    orbit, why = common_orbit({"before": [_s1(8, 21)], "after": [_s1(20, 94)]}, claim)
    assert orbit is None and why is not None
    assert "before: 21; after: 94" in why and "widen the windows" in why
    # a catalogue that does not say: no filter
    assert common_orbit({"before": [_s1(8, None)], "after": [_s1(20, 94)]}, claim) == (None, None)
    # an empty window does not decide the orbit (it reports "no scene" on its own)
    assert common_orbit({"before": [_s1(8, 21)], "after": []}, claim) == (21, None)
