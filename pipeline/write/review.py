"""The pieces of the review page (report.html): its stylesheet and script, inline so the page is
one file that works offline, and the pictures of one check prepared for it (before and after for
the swipe, the change overlay, the site outline and the regions in picture coordinates).

Everything a page shows is text it is given, scrubbed of local paths (`public`), so the file is
safe to mail: no network, no CDN, no file names from the machine that wrote it.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from PIL import Image
from rasterio.warp import transform, transform_geom

from pipeline.lazy import LazyModule

ndimage = LazyModule("scipy.ndimage")  # at first use: commands that draw no page never load it

MAX_SIDE_PX = 1600
"""Longest side of the pictures embedded for the swipe; larger grids are shown downsampled (the
full-resolution before.png / after.png stay in the check's folder)."""

OVERLAY_RGBA = {
    1: (255, 38, 26, 255),  # appeared
    2: (0, 217, 255, 255),  # disappeared
    3: (255, 217, 0, 255),  # changed, direction unclear
    255: (40, 40, 40, 110),  # not usable, or outside the site as drawn
}
"""Colours of the change overlay: the change classes (1-3) are drawn as outlines with a clear
interior so the ground shows through, as on the panel's insets; 255 as a light veil."""

_PATH = re.compile(r"file://[^\s\"'<>)]+|(?<![\w.:/~])(?:~|/)(?:[\w.@+-]+/)+[\w.@+-]*")


def public(text: str) -> str:
    """`text` without local paths: file:// URIs and absolute paths become their last part
    ("file:///home/me/x/catalog.json" -> "catalog.json"); http(s) URLs are kept."""
    return _PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "…", text)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True)
class RegionBox:
    label: int
    direction: str
    area_m2: float
    mean_score: float
    box: tuple[float, float, float, float]
    """(x0, y0, x1, y1) as fractions of the picture's width and height."""
    lonlat: tuple[float, float] | None = None
    """The region's centroid (lon, lat), to cite."""
    what: str | None = None
    """What its pixels did ("darker, new vegetation"), where appeared / disappeared say nothing
    a reader can check (no baseline)."""


@dataclass(frozen=True)
class CheckPictures:
    """What the swipe of one check needs, all embedded."""

    width: int
    height: int
    before: str
    after: str
    overlay: str | None
    outline: tuple[tuple[float, float], ...] = ()
    footprint: tuple[tuple[tuple[float, float], ...], ...] = ()
    regions: tuple[RegionBox, ...] = field(default_factory=tuple)
    ground_width_m: float | None = None
    """The ground distance across the picture's width (for the viewer's scale bar)."""
    north_deg: float = 0.0
    """Clockwise angle from the picture's up to north at its centre (the north arrow's turn)."""


def overlay_rgba(klass: np.ndarray) -> np.ndarray:
    """The change overlay of a class grid (change.tif's codes): each change class as the outline
    of its regions (about 1/400 of the width thick, at least a pixel), transparent inside;
    "not usable / outside" as a light veil."""
    rgba = np.zeros((*klass.shape, 4), np.uint8)
    rgba[klass == 255] = OVERLAY_RGBA[255]
    thick = max(1, round(max(klass.shape) / 400))
    for code in (1, 2, 3):
        mask = klass == code
        if mask.any():
            inner = ndimage.binary_erosion(mask, iterations=thick, border_value=1)
            rgba[mask & ~inner] = OVERLAY_RGBA[code]
    return rgba


def _ground_width_m(crs: Any, tf: Any, w: int, h: int) -> float | None:
    """Metres across the middle row of a grid of `w` columns (geodesic for geographic grids)."""
    if crs is None:
        return None
    if crs.is_projected:
        return float(abs(tf.a) * w * crs.linear_units_factor[1])
    (lon0, lat0), (lon1, _) = tf * (0, h / 2), tf * (w, h / 2)
    return float(abs(lon1 - lon0) * 111_320.0 * np.cos(np.radians(lat0)))


def _north_deg(crs: Any, tf: Any, w: int, h: int) -> float:
    """Clockwise turn from the picture's up to true north at its centre."""
    if crs is None:
        return 0.0
    x, y = tf * (w / 2, h / 2)
    lon, lat = transform(crs, "EPSG:4326", [x], [y])
    xs, ys = transform("EPSG:4326", crs, [lon[0], lon[0]], [lat[0], lat[0] + 0.01])
    inv = ~tf
    c0, r0 = inv * (xs[0], ys[0])
    c1, r1 = inv * (xs[1], ys[1])
    return float(np.degrees(np.arctan2(c1 - c0, r0 - r1)))


def _encode(img: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buf, format="JPEG", quality=85, optimize=True)
    else:
        img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def check_pictures(
    folder: Path,
    outline_lonlat: list[tuple[float, float]],
    footprint_lonlat: list[list[tuple[float, float]]],
    max_regions: int = 12,
) -> CheckPictures | None:
    """Read before.png, after.png, change.tif and regions.geojson of a check's folder and prepare
    them for the page; None when the check has no pictures (a window without an image)."""
    paths = [folder / n for n in ("before.png", "after.png", "change.tif")]
    if not all(p.is_file() for p in paths):
        return None
    with Image.open(paths[0]) as b, Image.open(paths[1]) as a:
        w, h = b.size
        scale = min(1.0, MAX_SIDE_PX / max(w, h))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        before = b.resize(size, Image.Resampling.LANCZOS) if scale < 1 else b.copy()
        after = a.resize(size, Image.Resampling.LANCZOS) if scale < 1 else a.copy()
    with rasterio.open(paths[2]) as src:
        klass = src.read(1)
        crs, tf = src.crs, src.transform
    if scale < 1:
        klass = np.asarray(Image.fromarray(klass).resize(size, Image.Resampling.NEAREST))
    over = Image.fromarray(overlay_rgba(klass), "RGBA")
    inv = ~tf

    def to_fraction(lonlat: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
        if not lonlat:
            return ()
        xs, ys = transform("EPSG:4326", crs, [p[0] for p in lonlat], [p[1] for p in lonlat])
        out = []
        for x, y in zip(xs, ys, strict=True):
            c, r = inv * (x, y)
            out.append((round(c / w, 5), round(r / h, 5)))
        return tuple(out)

    regions: list[RegionBox] = []
    rpath = folder / "regions.geojson"
    if rpath.is_file():
        features = json.loads(rpath.read_text("utf-8")).get("features", [])
        for f in features[:max_regions]:
            g = transform_geom("EPSG:4326", crs, f["geometry"])
            coords = np.array(
                [
                    pt
                    for poly in (
                        g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
                    )
                    for ring in poly
                    for pt in ring
                ]
            )
            cols, rows = inv * (coords[:, 0], coords[:, 1])
            p = f["properties"]
            regions.append(
                RegionBox(
                    int(p["region"]),
                    str(p["direction"]),
                    float(p["area_m2"]),
                    float(p["mean_score"]),
                    (
                        round(float(np.min(cols)) / w, 5),
                        round(float(np.min(rows)) / h, 5),
                        round(float(np.max(cols)) / w, 5),
                        round(float(np.max(rows)) / h, 5),
                    ),
                    tuple(p["centroid_lonlat"]) if "centroid_lonlat" in p else None,
                    str(p["what"]) if p.get("what") else None,
                )
            )
    return CheckPictures(
        width=w,
        height=h,
        ground_width_m=_ground_width_m(crs, tf, w, h),
        north_deg=_north_deg(crs, tf, w, h),
        before=data_uri(_encode(before, "JPEG"), "image/jpeg"),
        after=data_uri(_encode(after, "JPEG"), "image/jpeg"),
        overlay=data_uri(_encode(over, "PNG"), "image/png"),
        outline=to_fraction(outline_lonlat),
        footprint=tuple(to_fraction(part) for part in footprint_lonlat),
        regions=tuple(regions),
    )


CSS = """
:root{--ok:#2d7a3a;--bad:#b3261e;--unk:#5f5f5f}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1180px;margin:1.5em auto;
padding:0 1em;color:#1d1d1d;background:#fafafa}
h1{font-size:1.6em;margin:.2em 0}h2{margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;background:#fff}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
img{max-width:100%}
.small{font-size:85%;color:#555}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:90%;word-break:break-all}
.verdict{display:inline-block;font-weight:800;font-size:1.5em;letter-spacing:.02em;
padding:.05em .45em;border-radius:.25em;color:#fff;margin-right:.4em}
.supported .verdict,.v-supported{background:var(--ok)}
.not_supported .verdict,.v-not_supported{background:var(--bad)}
.inconclusive .verdict,.v-inconclusive{background:var(--unk)}
td.v-supported,td.v-not_supported,td.v-inconclusive{color:#fff;font-weight:700}
.check{background:#fff;border:1px solid #ddd;border-radius:.5em;padding:1em 1.2em;margin:1.5em 0}
.check h3{margin:.2em 0 .4em;font-size:1.25em}
.plain{font-size:1.1em;margin:.3em 0}
.flag{color:#a00;font-weight:700}
.agree{color:var(--ok);font-weight:700}.disagree{color:var(--bad);font-weight:700}
.viewer{display:grid;grid-template-columns:minmax(0,1fr) fit-content(22em);gap:1em;
align-items:start}
figure.viewer{margin:1em 0}
@media (max-width:1000px){.viewer{grid-template-columns:minmax(0,1fr)}}
.stage{position:relative;overflow:hidden;background:#333;touch-action:none;cursor:ew-resize;
user-select:none;-webkit-user-select:none;border:1px solid #999}
.stage .z,.stage .clip{position:absolute;inset:0}
.stage .z{transform-origin:0 0;transition:transform .35s ease}
.stage img,.stage svg{position:absolute;inset:0;width:100%;height:100%;display:block;
image-rendering:pixelated;max-width:none;pointer-events:none}
.stage .after{clip-path:inset(0 0 0 50%)}
.handle{position:absolute;top:0;bottom:0;width:0;border-left:2px solid #fff;
box-shadow:0 0 0 1px rgba(0,0,0,.6);left:50%;pointer-events:none}
.handle span{position:absolute;top:50%;left:-1.1em;width:2.2em;height:2.2em;margin-top:-1.1em;
border-radius:50%;background:#fff;border:1px solid #333;display:flex;align-items:center;
justify-content:center;font-size:.8em;color:#222}
.tag{position:absolute;top:.4em;padding:.1em .4em;background:rgba(0,0,0,.65);color:#fff;
font-size:.8em;border-radius:.2em;pointer-events:none}
.tag.l{left:.4em}.tag.r{right:.4em}.tag.off{visibility:hidden}
.scalebar{position:absolute;left:.5em;bottom:.5em;pointer-events:none;color:#fff;font-size:.8em;
text-shadow:0 0 2px #000,0 0 2px #000}
.scalebar i{display:block;height:.45em;border:2px solid #fff;border-top:0;
box-shadow:0 1px 0 #000,0 0 0 1px rgba(0,0,0,.5)}
.north{position:absolute;right:.5em;bottom:.5em;width:1.6em;pointer-events:none;text-align:center;
color:#fff;text-shadow:0 0 2px #000,0 0 2px #000;font-size:.85em;line-height:1}
.north svg{position:static;width:1.1em;height:1.6em;display:block;margin:0 auto}
.ov{overflow-x:auto;max-width:100%}
.controls{display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:center;margin:.5em 0}
.controls input[type=range]{flex:1 1 16em;min-width:12em}
button{font:inherit;padding:.15em .6em;border:1px solid #888;border-radius:.3em;background:#f3f3f3;
cursor:pointer}button:hover,button:focus-visible{background:#e3eefc;outline:2px solid #2a6dd6}
.regions td{padding:.15em .4em}.regions button{width:100%;text-align:left;white-space:nowrap}
.regions .nb{white-space:nowrap}
.sw{display:inline-block;width:.9em;height:.9em;border:1px solid #333;vertical-align:-.1em}
details{margin:.4em 0}summary{cursor:pointer;color:#2a4d8f}
@media (max-width:600px){body{padding:0 .5em}.check{padding:.8em .6em}td{overflow-wrap:anywhere}
figure.viewer{margin:.5em 0}.regions button{white-space:normal}
.ov img{max-width:none;width:760px}
.wide,.wide tbody,.wide tr,.wide td{display:block}.wide tr:has(th){display:none}
.wide tr{border:1px solid #ccc;margin-bottom:.5em}.wide td{border:0;border-top:1px dotted #ddd}
.wide td:first-child{border-top:0}}
"""

JS = r"""
(function () {
  "use strict";
  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function setSwipe(fig, pct) {
    pct = Math.round(clamp(pct, 0, 100) * 2) / 2;  // the slider's step: 0.5 %
    fig.querySelector(".after").style.clipPath = "inset(0 0 0 " + pct + "%)";
    fig.querySelector(".handle").style.left = pct + "%";
    // a date label shows only while its picture has room for it beside the divider
    var stageW = fig.querySelector(".stage").clientWidth;
    var tl = fig.querySelector(".tag.l"), tr = fig.querySelector(".tag.r");
    tl.classList.toggle("off", stageW * pct / 100 < tl.offsetWidth + 8);
    tr.classList.toggle("off", stageW * (100 - pct) / 100 < tr.offsetWidth + 8);
    var range = fig.querySelector("input.swipe");
    if (Number(range.value) !== pct) { range.value = String(pct); }
    range.setAttribute("aria-valuetext",
      Math.round(pct) + "%: before on the left, after on the right");
  }
  function zoomTo(fig, box) {
    var s = 1, tx = 0, ty = 0, hl = fig.querySelector("rect.hl");
    if (box) {
      var bw = box[2] - box[0], bh = box[3] - box[1];
      var pad = Math.max(bw, bh) * 0.6 + 0.03;
      s = clamp(1 / Math.max(bw + 2 * pad, bh + 2 * pad), 1, 12);
      var cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
      tx = clamp(0.5 - cx * s, 1 - s, 0);
      ty = clamp(0.5 - cy * s, 1 - s, 0);
      hl.setAttribute("x", box[0]); hl.setAttribute("y", box[1]);
      hl.setAttribute("width", Math.max(bw, 0.002)); hl.setAttribute("height", Math.max(bh, 0.002));
      hl.style.display = "";
    } else {
      hl.style.display = "none";
    }
    var t = "translate(" + (tx * 100) + "%," + (ty * 100) + "%) scale(" + s + ")";
    fig.querySelectorAll(".z").forEach(function (z) { z.style.transform = t; });
    fig.setAttribute("data-zoom", String(s));
    scaleBar(fig);
  }
  function scaleBar(fig) {
    // a bar of a round ground distance, about 90 px long at the current zoom
    var bar = fig.querySelector(".scalebar");
    var ground = Number(fig.getAttribute("data-ground-width-m"));
    var stage = fig.querySelector(".stage");
    if (!bar || !ground || !stage.clientWidth) { return; }
    var s = Number(fig.getAttribute("data-zoom") || "1");
    var mPerPx = ground / (stage.clientWidth * s);
    var want = mPerPx * Math.min(90, stage.clientWidth / 3);
    var p = Math.pow(10, Math.floor(Math.log10(want))), m = p;
    [1, 2, 5, 10].forEach(function (k) { if (k * p <= want) { m = k * p; } });
    bar.querySelector("i").style.width = (m / mPerPx) + "px";
    bar.querySelector("span").textContent = m >= 1000 ? (m / 1000) + " km" : m + " m";
    bar.setAttribute("data-m", String(m));
  }
  document.querySelectorAll("figure.swipe").forEach(function (fig) {
    var stage = fig.querySelector(".stage");
    var range = fig.querySelector("input.swipe");
    var dragging = false;
    function fromPointer(ev) {
      var r = stage.getBoundingClientRect();
      setSwipe(fig, 100 * (ev.clientX - r.left) / r.width);
    }
    stage.addEventListener("pointerdown", function (ev) {
      dragging = true;
      if (stage.setPointerCapture && ev.pointerId !== undefined) {
        try { stage.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic pointer */ }
      }
      fromPointer(ev); ev.preventDefault();
    });
    stage.addEventListener("pointermove", function (ev) { if (dragging) { fromPointer(ev); } });
    ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (n) {
      stage.addEventListener(n, function () { dragging = false; });
    });
    range.addEventListener("input", function () { setSwipe(fig, Number(range.value)); });
    range.addEventListener("keydown", function (ev) {
      // arrows move the divider 5 % (Shift: 20 %), Page Up/Down 20 %, Home/End to the edges
      var big = ev.shiftKey ? 20 : 5, step = {
        ArrowRight: big, ArrowUp: big, ArrowLeft: -big, ArrowDown: -big,
        PageUp: 20, PageDown: -20, Home: -100, End: 100
      }[ev.key];
      if (step === undefined) { return; }
      ev.preventDefault();
      setSwipe(fig, Number(range.value) + step);
    });
    window.addEventListener("resize", function () {
      setSwipe(fig, Number(range.value)); scaleBar(fig);
    });
    var toggle = fig.querySelector("input.overlay-toggle");
    if (toggle) {
      var layer = fig.querySelector(".z.overlay");
      var apply = function () { layer.style.display = toggle.checked ? "" : "none"; };
      toggle.addEventListener("change", apply); apply();
    }
    fig.querySelectorAll("button[data-box]").forEach(function (b) {
      b.addEventListener("click", function () {
        zoomTo(fig, JSON.parse(b.getAttribute("data-box")));
        // on a phone the list is below the picture: bring the picture into view
        var r = stage.getBoundingClientRect();
        if (r.top < 0 || r.bottom > window.innerHeight) {
          stage.scrollIntoView({block: r.height > window.innerHeight ? "start" : "center"});
        }
      });
    });
    fig.querySelectorAll("button.reset").forEach(function (b) {
      b.addEventListener("click", function () { zoomTo(fig, null); });
    });
    setSwipe(fig, Number(range.value));
    zoomTo(fig, null);
  });
})();
"""
