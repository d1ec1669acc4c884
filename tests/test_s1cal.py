"""Sentinel-1 GRD calibration (pipeline/s1cal.py) and the calibrated STAC route (pipeline/radar.py).

Real tables: the calibration, noise and product annotation of the real Sentinel-1B IW GRDH product
S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371 (VV), from the sarsen 0.9.6
sdist (tests/data/s1grd_annotation/, see its README). Its measurement in that sdist is blank
(all zeros), and no real GRD within reach has both pixels and tables, so the end-to-end test
writes a measurement of the product's real size and real ground control points whose DN are made
from the real tables for a known sigma0: the route must give that sigma0 back.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.transform import GCPTransformer
from rasterio.windows import Window

from pipeline.errors import DataUnavailable
from pipeline.model.grid import Grid, plan_grid
from pipeline.model.scene import Asset, Scene
from pipeline.net import cache
from pipeline.read import radar, s1cal
from tests.support.httpserver import HTTPTestServer

DATA = Path(__file__).parent / "data" / "s1grd_annotation"
PRODUCT = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371"
STEM = "s1b-iw-grd-vv-20211223t051122-20211223t051147-030148-039993-001.xml"
WIDTH, HEIGHT = 26102, 16705  # numberOfSamples, numberOfLines of the product annotation


def _xml(kind: str) -> bytes:
    name = STEM if kind == "product" else f"{kind}-{STEM}"
    return gzip.decompress((DATA / f"{name}.gz").read_bytes())


@pytest.fixture(scope="module")
def cal() -> dict[str, s1cal.Lut]:
    return s1cal.parse_calibration(_xml("calibration"))


@pytest.fixture(scope="module")
def noise() -> s1cal.Noise:
    return s1cal.parse_noise(_xml("noise"))


def read_geolocation() -> np.ndarray:
    """(line, pixel, lat, lon, height, incidence) of the product's 210 geolocation grid points."""
    text = _xml("product").decode()
    pts = re.findall(
        r"<geolocationGridPoint>.*?<line>(\d+)</line>\s*<pixel>(\d+)</pixel>\s*"
        r"<latitude>([^<]+)</latitude>\s*<longitude>([^<]+)</longitude>\s*"
        r"<height>([^<]+)</height>\s*<incidenceAngle>([^<]+)</incidenceAngle>",
        text,
        re.S,
    )
    return np.array(pts, dtype=np.float64)


@pytest.fixture(scope="module")
def geolocation() -> np.ndarray:
    return read_geolocation()


def _at(lut: s1cal.Lut, line: float, pixel: float) -> float:
    return float(lut.on_window(int(line), int(pixel), 1, 1)[0, 0])


# ------------------------------------------------------------------------------ real tables


def test_real_tables_parse_with_their_shape(cal: dict[str, s1cal.Lut], noise: s1cal.Noise) -> None:
    assert set(cal) == {"sigmaNought", "betaNought", "gamma", "dn"}
    sig = cal["sigmaNought"]
    assert len(sig.lines) == 27 and all(len(p) == 654 for p in sig.pixels)
    assert sig.extent[1] == WIDTH - 1  # the last pixel of the image
    s1cal.check_extent(sig, WIDTH, HEIGHT)
    assert len(noise.range_lut.lines) == 27
    # IPF 3.40: three azimuth blocks, one per sub-swath, covering every sample and line
    blocks = noise.azimuth
    assert len(blocks) == 3
    assert blocks[0].first_pixel == 0 and blocks[-1].last_pixel == WIDTH - 1
    assert all(b.first_line == 0 and b.last_line == HEIGHT - 1 for b in blocks)
    assert all(a.last_pixel + 1 == b.first_pixel for a, b in zip(blocks, blocks[1:], strict=False))


def test_tables_agree_with_the_products_own_geometry(
    cal: dict[str, s1cal.Lut], geolocation: np.ndarray
) -> None:
    """sigma0 = beta0 sin(theta) and gamma0 = sigma0 / cos(theta), so the interpolated tables
    imply an incidence angle at every pixel. At the product's 210 geolocation points (none of
    them on a table node) it must match the incidence angle the annotation gives there. Swapped
    axes, an off-by-a-row or a wrong node order would miss by degrees."""
    from_beta, from_gamma = [], []
    for line, pixel, *_, incidence in geolocation:
        a_sigma = _at(cal["sigmaNought"], line, pixel)
        a_beta = _at(cal["betaNought"], line, pixel)
        a_gamma = _at(cal["gamma"], line, pixel)
        from_beta.append(np.degrees(np.arcsin((a_beta / a_sigma) ** 2)) - incidence)
        from_gamma.append(np.degrees(np.arccos((a_gamma / a_sigma) ** 2)) - incidence)
    for err in (np.abs(from_beta), np.abs(from_gamma)):
        assert np.median(err) < 0.1 and err.max() < 0.5, err
    # incidence spans the IW swath, about 30 to 46 degrees
    assert geolocation[:, 5].min() < 31 and geolocation[:, 5].max() > 45


def test_interpolation_is_exact_at_nodes_and_linear_between(cal: dict[str, s1cal.Lut]) -> None:
    sig = cal["sigmaNought"]
    k, j = 5, 100
    line, pixel = int(sig.lines[k]), int(sig.pixels[k][j])
    assert _at(sig, line, pixel) == pytest.approx(sig.values[k][j], rel=1e-12)
    nxt = int(sig.lines[k + 1])
    mid_line = _at(sig, (line + nxt) // 2, pixel)
    t = ((line + nxt) // 2 - line) / (nxt - line)
    expect = (1 - t) * sig.values[k][j] + t * sig.values[k + 1][j]
    assert mid_line == pytest.approx(expect, rel=1e-12)
    win = sig.on_window(line, pixel, 3, 41)
    assert win.shape == (3, 41) and np.all(np.diff(win[0]) <= 0)  # A falls with range here


def test_noise_equivalent_sigma0_is_what_iw_is_known_for(
    cal: dict[str, s1cal.Lut], noise: s1cal.Noise
) -> None:
    """Thermal noise over the calibration gain, N / A², is the noise-equivalent sigma0 (NESZ):
    Sentinel-1 IW is specified below -22 dB and measures about -22 to -30 dB across the swath."""
    rows = range(0, HEIGHT, 701)
    # the table is 0 past the far-range edge of the swath (pixels > ~26000 hold no data)
    cols = slice(100, 25900, 97)
    n = np.stack([noise.on_window(r, 0, 1, WIDTH)[0, cols] for r in rows])
    a = np.stack([cal["sigmaNought"].on_window(r, 0, 1, WIDTH)[0, cols] for r in rows])
    nesz = 10 * np.log10(n / a**2)
    assert np.isfinite(nesz).all()
    assert nesz.min() > -32 and nesz.max() < -20, (nesz.min(), nesz.max())
    assert nesz.max() - nesz.min() > 2  # it varies across the sub-swaths, as it should


def test_sigma0_inverts_dn_floors_noise_and_keeps_nodata(
    cal: dict[str, s1cal.Lut], noise: s1cal.Noise
) -> None:
    sig = cal["sigmaNought"]
    r0, c0, h, w = 8000, 12000, 40, 60
    a = sig.on_window(r0, c0, h, w)
    n = noise.on_window(r0, c0, h, w)
    truth = np.full((h, w), 10 ** (-1.0))  # -10 dB
    truth[:, :20] = 10 ** (-2.8)  # -28 dB: under the noise floor once noise is in the DN
    dn = np.round(np.sqrt(truth * a**2 + n)).astype(np.uint16)
    dn[0, 0] = 0  # nodata
    out = s1cal.sigma0(dn, sig, r0, c0, noise)
    db = 10 * np.log10(out[:, 20:])
    assert np.abs(db - -10).max() < 0.03  # DN rounding only
    dark = 10 * np.log10(out[1:, :20])
    assert np.isfinite(dark).all() and np.abs(np.median(dark) - -28) < 1.5
    assert np.isnan(out[0, 0])
    # zero or negative after noise removal: the floor, not a hole
    zero = s1cal.sigma0(np.ones((2, 2), np.uint16), sig, r0, c0, noise)
    assert np.allclose(zero, s1cal.SIGMA0_FLOOR)
    # without the noise table: DN²/A² including the noise power
    noisy = s1cal.sigma0(dn, sig, r0, c0)
    assert np.all(noisy[1:, :20] > out[1:, :20])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[: len(b) // 2], "cut short"),
        (
            lambda b: b.replace(b"<calibration>", b"<noise>", 1).replace(
                b"</calibration>", b"</noise>"
            ),
            "root element is <noise>",
        ),  # noqa: E501
        (
            lambda b: b.replace(b'<pixel count="654">0 40 ', b'<pixel count="654">0 ', 1),
            "654 sigmaNought",
        ),  # noqa: E501
        (
            lambda b: b.replace(b"<line>668</line>", b"<line>0</line>", 1),
            "lines are not increasing",
        ),  # noqa: E501
    ],
)
def test_broken_tables_are_refused(mangle: object, message: str) -> None:
    with pytest.raises(s1cal.AnnotationError, match=message):
        s1cal.parse_calibration(mangle(_xml("calibration")))  # type: ignore[operator]


def test_a_downsampled_measurement_is_refused(cal: dict[str, s1cal.Lut]) -> None:
    with pytest.raises(s1cal.AnnotationError, match="not the full-resolution image"):
        s1cal.check_extent(cal["sigmaNought"], 1280, 837)


# ---------------------------------------------------------------------- the STAC route


def _gcps(geolocation: np.ndarray) -> list[GroundControlPoint]:
    return [
        GroundControlPoint(row=r, col=c, x=lon, y=lat, z=z) for r, c, lat, lon, z, _ in geolocation
    ]


PARK_DB, GROUND_DB = 0.0, -12.0


def _measurement(
    path: Path,
    grid: Grid,
    geolocation: np.ndarray,
    cal: dict[str, s1cal.Lut],
    noise: s1cal.Noise,
    park: tuple[float, float],
) -> None:
    """The product's full-size measurement GeoTIFF (tiled, sparse: only the part under the site
    holds data) with the product's GCPs. DN = sqrt(sigma0 A² + N): GROUND_DB everywhere, PARK_DB
    on a 5 x 5 pixel block at `park` (lon, lat)."""
    gcps = _gcps(geolocation)
    crs = CRS.from_epsg(4326)
    win = radar.gcp_window(gcps, crs, grid, WIDTH, HEIGHT, pad=64)
    assert win is not None
    r0 = int(win.row_off) // 512 * 512
    c0 = int(win.col_off) // 512 * 512
    h = -(-(int(win.row_off + win.height) - r0) // 512) * 512
    w = -(-(int(win.col_off + win.width) - c0) // 512) * 512
    truth = np.full((h, w), 10 ** (GROUND_DB / 10))
    with GCPTransformer(gcps, tps=True) as t:
        pr, pc = t.rowcol(*park, op=round)
    truth[pr - r0 - 2 : pr - r0 + 3, pc - c0 - 2 : pc - c0 + 3] = 10 ** (PARK_DB / 10)
    a = cal["sigmaNought"].on_window(r0, c0, h, w)
    dn = np.round(np.sqrt(truth * a**2 + noise.on_window(r0, c0, h, w)))
    profile = dict(driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype="uint16")
    profile.update(tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    with rasterio.open(path, "w", **profile, SPARSE_OK=True, gcps=gcps, crs=crs) as dst:
        dst.write(dn.astype(np.uint16), 1, window=Window(c0, r0, w, h))


@pytest.fixture(scope="module")
def served_product(
    tmp_path_factory: pytest.TempPathFactory,
    geolocation: np.ndarray,
    cal: dict[str, s1cal.Lut],
    noise: s1cal.Noise,
) -> tuple[Path, Grid, tuple[float, float]]:
    folder = tmp_path_factory.mktemp("grd")
    mid = geolocation[
        np.argmin(np.abs(geolocation[:, 0] - 8352) + np.abs(geolocation[:, 1] - 13000))
    ]
    lat, lon = mid[2], mid[3]
    grid = plan_grid((lon - 0.02, lat - 0.015, lon + 0.02, lat + 0.015), 10)
    park = (lon + 0.005, lat + 0.003)
    _measurement(folder / "vv.tiff", grid, geolocation, cal, noise, park)
    for kind in ("calibration", "noise"):
        (folder / f"{kind}-vv.xml").write_bytes(_xml(kind))
    return folder, grid, park


def _scene(base: str, tables: tuple[str, ...] = ("calibration", "noise")) -> Scene:
    assets = {"vv": Asset(f"{base}/vv.tiff")}
    for kind in tables:
        assets[f"schema-{kind}-vv"] = Asset(f"{base}/{kind}-vv.xml")
    return Scene(
        id=PRODUCT,
        collection="sentinel-1-grd",
        datetime=dt.datetime(2021, 12, 23, 5, 11, 22, tzinfo=dt.UTC),
        platform="sentinel-1b",
        cloud_cover=None,
        assets=assets,
    )


def test_grd_over_http_comes_back_as_the_sigma0_it_was_made_from(
    served_product: tuple[Path, Grid, tuple[float, float]], http_server: HTTPTestServer
) -> None:
    folder, grid, park = served_product
    prefix = f"/{uuid.uuid4().hex[:10]}"
    base = http_server.mount(prefix, folder)
    http_server.fail(f"{prefix}/calibration-vv.xml", 503, times=1)  # a busy server, once
    http_server.truncate(f"{prefix}/noise-vv.xml", after=5000, times=1)  # a body cut short
    power, label = radar._read_power(_scene(base), "vv", grid)
    assert label == radar.SIGMA0_NR
    db = radar.to_db(power)
    ok = np.isfinite(db)
    assert ok.mean() > 0.99
    # the ground: GROUND_DB within what DN rounding and bilinear warping leave
    assert abs(float(np.median(db[ok])) - GROUND_DB) < 0.05
    # the park: PARK_DB, where its lon/lat says, and only there
    from rasterio.warp import transform

    x, y = transform(CRS.from_epsg(4326), grid.crs, [park[0]], [park[1]])
    col, row = ~grid.transform * (x[0], y[0])
    assert float(db[int(row), int(col)]) > PARK_DB - 1.5
    bright = db > GROUND_DB + 6
    rows, cols = np.nonzero(bright)
    assert abs(rows.mean() - row) < 3 and abs(cols.mean() - col) < 3
    assert 10 < bright.sum() < 60  # 5 x 5 GRD pixels of 10 m on a 10 m grid (plus warp blur)
    stats = http_server.stats(f"{prefix}/vv.tiff")
    assert stats.partial > 0  # range requests of a 26102 x 16705 image, not the whole file
    assert 503 in http_server.stats(f"{prefix}/calibration-vv.xml").statuses

    # read again: the calibrated pixels come from the disk cache, no request, no table needed
    before = {p: http_server.stats(f"{prefix}/{p}").requests for p in _files()}
    again, label2 = radar._read_power(_scene(base), "vv", grid)
    assert label2 == label and np.array_equal(again, power, equal_nan=True)
    after = {p: http_server.stats(f"{prefix}/{p}").requests for p in _files()}
    assert after == before
    assert cache.active() is not None and cache.active().counters.hits == 1  # type: ignore[union-attr]


def _files() -> tuple[str, ...]:
    return ("vv.tiff", "calibration-vv.xml", "noise-vv.xml")


def test_without_tables_the_same_file_is_uncalibrated_and_labelled_so(
    served_product: tuple[Path, Grid, tuple[float, float]], http_server: HTTPTestServer
) -> None:
    folder, grid, _ = served_product
    base = http_server.mount(f"/{uuid.uuid4().hex[:10]}", folder)
    power, label = radar._read_power(_scene(base, tables=()), "vv", grid)
    assert label == radar.UNCALIBRATED
    assert float(np.nanmedian(radar.to_db(power))) > 30  # DN² of amplitudes in the hundreds
    # calibration without a noise table: sigma0 that still holds the noise power
    noisy, label = radar._read_power(_scene(base, tables=("calibration",)), "vv", grid)
    assert label == radar.SIGMA0
    assert 0 < float(np.nanmedian(radar.to_db(noisy))) - GROUND_DB < 0.5


def test_a_listed_table_that_cannot_be_had_stops_the_read(
    served_product: tuple[Path, Grid, tuple[float, float]], http_server: HTTPTestServer
) -> None:
    folder, grid, _ = served_product
    prefix = f"/{uuid.uuid4().hex[:10]}"
    base = http_server.mount(prefix, folder)
    scene = _scene(base)
    http_server.fail(f"{prefix}/calibration-vv.xml", 500, times=None)  # down for good
    with pytest.raises(DataUnavailable, match=r"calibration table .* HTTP 500"):
        radar._read_power(scene, "vv", grid)
    # nothing was kept of that read: no cache entry, and no measurement request either
    disk = cache.active()
    assert disk is not None and disk.counters.writes == 0
    assert http_server.stats(f"{prefix}/vv.tiff").requests == 0
    http_server.clear_faults()
    missing = {**scene.assets, "schema-noise-vv": Asset(f"{base}/missing.xml")}
    with pytest.raises(DataUnavailable, match=r"cannot read the noise table .* HTTP 404"):
        radar._read_power(replace(scene, assets=missing), "vv", grid)


def test_tables_in_a_requester_pays_bucket_are_read_through_gdal(
    http_server: HTTPTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Earth Search lists s3:// tables (requester pays): read with the user's AWS credentials
    through GDAL's /vsis3/, here against the local server standing in for S3 (path-style)."""
    (tmp_path / "calibration-vv.xml").write_bytes(_xml("calibration"))
    http_server.mount("/sentinel-s1-l1c", tmp_path)
    monkeypatch.setenv("AWS_S3_ENDPOINT", http_server.base.removeprefix("http://"))
    monkeypatch.setenv("AWS_HTTPS", "NO")
    monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "FALSE")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    data = radar.fetch_bytes("s3://sentinel-s1-l1c/calibration-vv.xml")
    assert data == _xml("calibration")
    with pytest.raises(DataUnavailable, match="not found or refused"):
        radar.fetch_bytes("s3://sentinel-s1-l1c/missing.xml")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws/credentials either
    with pytest.raises(DataUnavailable, match="requester-pays bucket and no AWS credentials"):
        radar.fetch_bytes("s3://sentinel-s1-l1c/calibration-vv.xml")
