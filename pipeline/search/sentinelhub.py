"""Sentinel Hub / Copernicus Data Space Ecosystem (CDSE): the account route, through `sentinelhub`.

Search goes to the Catalog API; reading goes to the Process API, which renders the bands straight
onto the site's grid (UTM, 10 m): one request per scene returns every band the pipeline needs, so
nothing is warped here. Scenes carry a `reader` (`SentinelHubReader`); `pipeline.read` asks it for
each asset instead of opening a file.

Credentials: `SH_CLIENT_ID` / `SH_CLIENT_SECRET` in the environment, or the library's own config
file (`sentinelhub.config --sh_client_id ...`, profile from `SH_PROFILE`). They are handed to the
library and never printed: errors name the service and the HTTP status only.

CDSE trap: the library's built-in collections carry the commercial service URL and get HTTP 401 with
CDSE accounts, so CDSE copies are defined against the configured base URL.

Values:
- Sentinel-2 L2A: `B02 B03 B04 B08 B11 B12` as digital numbers with `harmonizeValues: false`, i.e.
  the same numbers as the COGs of the STAC route (the +1000 offset from baseline 04.00 left in), so
  `pipeline.model.radiometry.s2_offset` decides the offset per scene exactly as for STAC; `SCL` as
  classes.
- Sentinel-1 GRD (IW, dual VV+VH): gamma0 terrain-corrected (`backCoeff: GAMMA0_TERRAIN`),
  orthorectified on the Copernicus 30 m DEM, linear power; `pipeline.read.radar` turns it into dB.
CDSE has no Landsat Collection 2 Level-2: Landsat windows need the STAC route (Planetary Computer).

Cache: each Process API answer (all bands of a scene on a grid) is one entry of the disk cache
(pipeline.net.cache), keyed by the service's Process URL and the request body: collection, time
range of the acquisition, evalscript (bands, units, sample type), processing options
(harmonizeValues, backCoeff, orthorectify, DEM), mosaicking order, box, CRS and size, output
formats; plus the scene id and the grid. The token travels in a header and is never part of the
key or the entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from rasterio.enums import Resampling

from pipeline.errors import CatalogUnreachable, DataUnavailable, InputError, Problem
from pipeline.model.grid import Grid
from pipeline.model.scene import Asset, Query, Scene
from pipeline.net import cache
from pipeline.net.redact import guard_loggers, strip_credentials

CDSE_URL = "https://sh.dataspace.copernicus.eu"
CDSE_TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
PASS_S = 30 * 60
"""A Process request covers the acquisition ± this: one satellite pass, both MGRS tiles of it."""
MAX_PX = 2500
"""Process API limit on width and height."""

S2_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")
S1_BANDS = ("VV", "VH")


class SentinelHubSource:
    """Catalog API search + Process API reads, CDSE by default (any Sentinel Hub deployment)."""

    def __init__(
        self,
        url: str = CDSE_URL,
        token_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        s2_bands: tuple[str, ...] = S2_BANDS,
    ):
        from sentinelhub import SHConfig

        self.url = url.rstrip("/")
        config = SHConfig()
        if client_id:
            config.sh_client_id = client_id
        if client_secret:
            config.sh_client_secret = client_secret
        if not (config.sh_client_id and config.sh_client_secret):
            raise InputError(
                Problem(
                    "environment",
                    "SH_CLIENT_ID / SH_CLIENT_SECRET",
                    "the config asks for Sentinel Hub (catalog: {kind: sentinelhub}) but no OAuth "
                    "client credentials are set",
                    fix="create an OAuth client in your Copernicus Data Space (or Sentinel Hub) "
                    "dashboard and export SH_CLIENT_ID and SH_CLIENT_SECRET, or save them with "
                    "`sentinelhub.config`; or use the keyless default (remove the catalog: block)",
                )
            )
        _scrub_logs(config.sh_client_secret)
        config.sh_base_url = self.url
        if token_url:
            config.sh_token_url = token_url
        elif self.url == CDSE_URL:
            config.sh_token_url = CDSE_TOKEN_URL
        config.max_download_attempts = 3
        config.download_sleep_time = 2.0
        config.download_timeout_seconds = 60.0
        config.max_retries = 5  # 429s: wait Retry-After at most 5 times, then give up (exit 3)
        self.config = config
        self.description = f"Sentinel Hub {self.url}"
        self.s2_bands = s2_bands
        self.reader = SentinelHubReader(self)
        self._collections: dict[str, Any] = {}

    # -- collections -------------------------------------------------------------------------

    def collection(self, name: str) -> Any:
        """The library's DataCollection for a pipeline collection, defined against our URL."""
        from sentinelhub import DataCollection

        if name in self._collections:
            return self._collections[name]
        base = {"sentinel-2-l2a": DataCollection.SENTINEL2_L2A}
        base["sentinel-1-grd"] = DataCollection.SENTINEL1_IW
        if name not in base:
            raise DataUnavailable(
                f"Sentinel Hub route serves sentinel-2-l2a and sentinel-1-grd, not {name} "
                "(CDSE has no Landsat Collection 2 Level-2)",
                fix="use catalog: {kind: planetary-computer} (keyless) for Landsat windows",
            )
        tag = hashlib.sha1(self.url.encode()).hexdigest()[:8]
        coll = base[name].define_from(
            f"PIPELINE_{name.upper().replace('-', '_')}_{tag}", service_url=self.url
        )
        self._collections[name] = coll
        return coll

    # -- search ------------------------------------------------------------------------------

    def search(self, query: Query) -> list[Scene]:
        from sentinelhub import CRS, BBox, SentinelHubCatalog

        collection = query.collection
        coll = self.collection(collection)
        catalog = SentinelHubCatalog(config=self.config)
        args: dict[str, Any] = {
            "bbox": BBox(query.bounds, crs=CRS.WGS84),
            "time": query.interval(),
            "fields": {
                "include": [
                    "id",
                    "geometry",
                    "properties.datetime",
                    "properties.eo:cloud_cover",
                    "properties.platform",
                ],
                "exclude": [],
            },
        }
        if query.max_cloud is not None and collection.startswith("sentinel-2"):
            args["filter"] = f"eo:cloud_cover <= {query.max_cloud:g}"
        features = _call(
            self, f"Catalog API search of {collection}", lambda: list(catalog.search(coll, **args))
        )
        scenes = [self._scene(f, collection) for f in features]
        if query.platforms:
            scenes = [s for s in scenes if s.platform in query.platforms]
        return sorted(scenes, key=lambda s: s.datetime)

    def _scene(self, feature: dict[str, Any], collection: str) -> Scene:
        props = feature.get("properties") or {}
        fid = str(feature["id"])
        when = dt.datetime.fromisoformat(str(props["datetime"]).replace("Z", "+00:00"))
        platform = str(props.get("platform") or _platform_from_id(fid))
        bands = self.s2_bands if collection.startswith("sentinel-2") else S1_BANDS
        assets = {
            _asset_key(b): Asset(f"sentinelhub:{collection}/{fid}#{b}", nodata=None) for b in bands
        }
        return Scene(
            id=fid,
            collection=collection,
            datetime=when,
            platform=platform,
            cloud_cover=props.get("eo:cloud_cover"),
            assets=assets,
            geometry=feature.get("geometry"),
            properties=dict(props),
            reader=self.reader,
        )


_LOGGERS = (
    "requests_oauthlib.oauth2_session",  # logs the token request body and the token at DEBUG
    "oauthlib",
    "sentinelhub.download.session",
    "sentinelhub.download.client",
    "sentinelhub.download.sentinelhub_client",
    "urllib3.connectionpool",
)


def _scrub_logs(secret: str) -> None:
    """Keep credentials out of logs even at DEBUG (requests-oauthlib prints them there), with
    the same redaction as every message that leaves the process (`pipeline.net.redact`)."""
    guard_loggers(_LOGGERS, secret)


def _asset_key(band: str) -> str:
    """Asset keys as the sensors in pipeline.model.sensors look for them (B02, SCL, vv, vh)."""
    return band.lower() if band in S1_BANDS else band


def _platform_from_id(fid: str) -> str:
    head = fid[:3].upper()
    if head.startswith("S2") or head.startswith("S1"):
        return f"sentinel-{head[1]}{head[2].lower()}"
    return ""


class SentinelHubReader:
    """`Scene.reader` for Sentinel Hub scenes: one Process API request per (scene, grid) returns
    all bands; each `read_asset` call takes its band from that (kept for the next few calls)."""

    def __init__(self, source: SentinelHubSource, keep: int = 8):
        self.source = source
        self._keep = keep
        self._arrays: OrderedDict[tuple[object, ...], dict[str, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.requests = 0

    def read_asset(self, scene: Scene, key: str, grid: Grid, resampling: Resampling) -> np.ndarray:
        gkey = (scene.id, grid.crs.to_wkt(), tuple(grid.transform)[:6], grid.width, grid.height)
        with self._lock:
            bands = self._arrays.get(gkey)
            if bands is None:
                bands = self._fetch(scene, grid)
                self._arrays[gkey] = bands
                while len(self._arrays) > self._keep:
                    self._arrays.popitem(last=False)
        if key not in bands:
            raise DataUnavailable(f"Sentinel Hub scene {scene.id} has no band {key}")
        return bands[key]

    def request(self, scene: Scene, grid: Grid) -> Any:
        """The SentinelHubRequest for a scene's bands on the grid (built, not sent)."""
        from sentinelhub import CRS, BBox, MimeType, MosaickingOrder, SentinelHubRequest

        if max(grid.width, grid.height) > MAX_PX:
            raise DataUnavailable(
                f"the site grid is {grid.width}x{grid.height} px; the Process API allows "
                f"{MAX_PX} px a side",
                fix="use a smaller site box (50 km at 10 m is 5000 px)",
            )
        epsg = grid.crs.to_epsg()
        if epsg is None:
            raise DataUnavailable(f"grid CRS {grid.crs} has no EPSG code for Sentinel Hub")
        s2 = scene.collection.startswith("sentinel-2")
        bands = self.source.s2_bands if s2 else S1_BANDS
        other: dict[str, Any]
        if s2:
            evalscript = _evalscript(bands, "DN", "UINT16")
            other = {"processing": {"harmonizeValues": False}}
            order = MosaickingOrder.LEAST_CC
        else:
            evalscript = _evalscript(bands, "LINEAR_POWER", "FLOAT32")
            other = {
                "processing": {
                    "backCoeff": "GAMMA0_TERRAIN",
                    "orthorectify": True,
                    "demInstance": "COPERNICUS_30",
                },
                "dataFilter": {"acquisitionMode": "IW", "polarization": "DV"},
            }
            order = MosaickingOrder.MOST_RECENT
        t0 = scene.datetime - dt.timedelta(seconds=PASS_S)
        t1 = scene.datetime + dt.timedelta(seconds=PASS_S)
        return SentinelHubRequest(
            evalscript=evalscript,
            input_data=[
                SentinelHubRequest.input_data(
                    data_collection=self.source.collection(scene.collection),
                    time_interval=(t0, t1),
                    mosaicking_order=order,
                    other_args=other,
                )
            ],
            responses=[
                SentinelHubRequest.output_response("default", MimeType.TIFF),
                SentinelHubRequest.output_response("userdata", MimeType.JSON),
            ],
            bbox=BBox(grid.bounds, crs=CRS(epsg)),
            size=(grid.width, grid.height),
            config=self.source.config,
        )

    def _fetch(self, scene: Scene, grid: Grid) -> dict[str, np.ndarray]:
        req = self.request(scene, grid)
        s2 = scene.collection.startswith("sentinel-2")
        bands = self.source.s2_bands if s2 else S1_BANDS
        disk = cache.active()
        what = cache_what(req, scene, grid, bands)
        key = disk.key(what) if disk is not None else ""
        arr = disk.get(key) if disk is not None else None
        if arr is None or arr.shape != (grid.height, grid.width, len(bands)):
            arr = self._download(req, scene, grid, bands)
            if disk is not None:
                disk.put(key, arr, what)
        result = {}
        for i, b in enumerate(bands):
            band = arr[:, :, i]
            if not s2:
                band = band.astype(np.float32)
            band.flags.writeable = False
            result[_asset_key(b)] = band
        return result

    def _download(self, req: Any, scene: Scene, grid: Grid, bands: tuple[str, ...]) -> np.ndarray:
        """The Process API's image for a request, checked against what was asked for."""
        self.requests += 1
        data = _call(self.source, f"Process API request for {scene.id}", req.get_data)
        out = data[0] if isinstance(data, list) and data else data
        arr = out.get("default.tif") if isinstance(out, dict) else out
        if not isinstance(arr, np.ndarray):
            raise DataUnavailable(f"the Process API answered {scene.id} without an image")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.shape != (grid.height, grid.width, len(bands)):
            raise DataUnavailable(
                f"the Process API answered {scene.id} with an image of shape {arr.shape}; "
                f"asked for {(grid.height, grid.width, len(bands))} ({', '.join(bands)})",
                fix="report this; the service or evalscript changed",
            )
        return arr


def cache_what(req: Any, scene: Scene, grid: Grid, bands: tuple[str, ...]) -> dict[str, Any]:
    """What a disk-cache entry of a Process API answer holds: everything that determines its
    pixels (the request body sent, the service URL, the grid), never a credential (the token is
    a header; the body and URL carry none)."""
    (download,) = req.download_list
    return {
        "kind": "sentinelhub-process",
        "url": strip_credentials(str(download.url)),
        "request": download.post_values,
        "collection": scene.collection,
        "item": scene.id,
        "bands": list(bands),
        "crs": grid.crs.to_wkt(),
        "transform": [float(v) for v in tuple(grid.transform)[:6]],
        "shape": [grid.height, grid.width],
    }


def _evalscript(bands: tuple[str, ...], units: str, sample_type: str) -> str:
    names = ", ".join(f'"{b}"' for b in bands)
    values = ", ".join(f"s.{b}" for b in bands)
    return f"""//VERSION=3
function setup() {{
  return {{
    input: [{{bands: [{names}], units: "{units}"}}],
    output: {{id: "default", bands: {len(bands)}, sampleType: "{sample_type}"}}
  }};
}}
function evaluatePixel(s) {{
  return [{values}];
}}
function updateOutputMetadata(scenes, inputMetadata, outputMetadata) {{
  outputMetadata.userData = {{"norm_factor": inputMetadata.normalizationFactor}};
}}
"""


def _call(source: SentinelHubSource, what: str, fn: Any) -> Any:
    """Run a library call; turn its failures into the pipeline's errors without credentials."""
    from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException

    try:
        return fn()
    except OutOfRequestsException:
        raise DataUnavailable(
            f"Sentinel Hub kept answering 429 (too many requests) to the {what}",
            fix="wait a few minutes; CDSE allows 300 requests a minute and 10,000 a month",
        ) from None
    except DownloadFailedException as exc:
        status = _status(exc)
        if status in (401, 403):
            raise InputError(
                Problem(
                    "environment",
                    "SH_CLIENT_ID / SH_CLIENT_SECRET",
                    f"Sentinel Hub at {source.url} refused the credentials (HTTP {status}) for "
                    f"the {what}",
                    fix="check the client id and secret; CDSE accounts work only with the CDSE "
                    f"URL ({CDSE_URL}), commercial ones only with services.sentinel-hub.com",
                )
            ) from None
        if status is None:
            raise CatalogUnreachable(
                f"cannot reach Sentinel Hub at {source.url} for the {what}",
                fix="check the network connection; try again later",
            ) from None
        raise DataUnavailable(
            f"Sentinel Hub at {source.url} answered HTTP {status} to the {what}",
            fix="try again later on 5xx; check the site box and dates on 400",
        ) from None
    except Exception as exc:
        # oauthlib raises its own errors for a bad token answer (never with the secret in them,
        # but the message is not needed either)
        if type(exc).__module__.startswith(("oauthlib", "requests_oauthlib")):
            raise InputError(
                Problem(
                    "environment",
                    "SH_CLIENT_ID / SH_CLIENT_SECRET",
                    f"Sentinel Hub's token service refused the credentials ({type(exc).__name__})",
                    fix="check the client id and secret and that the token URL matches the "
                    "service (CDSE or commercial)",
                )
            ) from None
        raise


def _status(exc: BaseException) -> int | None:
    for e in (exc, exc.__cause__, exc.__context__):
        resp = getattr(e, "response", None)
        if resp is not None and getattr(resp, "status_code", None) is not None:
            return int(resp.status_code)
    return None
