"""A check's output bundle, written one way for `run`, `compare`, `watch` and `scan`'s tiles: the
change map (change.tif and its .aux.xml) with its regions (regions.geojson), the pictures
(panel.png; flicker.gif, before.png and after.png where asked), any other file the command adds,
its review page, then its report (report.json; a scan tile's tile.json), last, with the sha256
of every other file when the report asks for them. The folder is replaced whole
(`outdir.atomic_dir`): a run killed halfway leaves the previous bundle intact. What differs
between the commands is said in the arguments, never by a copy of this function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from pipeline.model.change import Change
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.write import render
from pipeline.write.export import regions_geojson, sha256_file, write_change_tif, write_json
from pipeline.write.flicker import FlickerText, flicker
from pipeline.write.outdir import atomic_dir
from pipeline.write.render import PanelText


@dataclass(frozen=True)
class ChangeMap:
    """change.tif (tagged with `tags`) and regions.geojson (each region with `about`, what was
    compared, and `what`, its pixels in words, by region label)."""

    change: Change
    grid: Grid
    pixel_area_m2: float
    tags: Mapping[str, str]
    about: Mapping[str, Any] | None = None
    what: Mapping[int, str] | None = None


@dataclass(frozen=True)
class Pictures:
    """panel.png of a change between two images; flicker.gif when `flicker` is given, before.png
    and after.png with `stills`."""

    before: Prepared
    after: Prepared
    change: Change
    panel: PanelText
    footprint: np.ndarray | None = None
    flicker: FlickerText | None = None
    stills: bool = False


Writer = Callable[[Path], None]
"""Writes more files into the (staging) folder it is given."""
Report = Callable[[dict[str, str]], Any]
"""The report from the sha256 of every other file, by name."""


def write(
    folder: Path,
    report: Report | BaseModel | Mapping[str, Any],
    *,
    change_map: ChangeMap | None = None,
    regions: Mapping[str, Any] | None = None,
    pictures: Pictures | None = None,
    files: Mapping[str, bytes] | None = None,
    extra: Sequence[Writer] = (),
    page: Callable[[Path, dict[str, str]], str] | None = None,
    report_name: str = "report.json",
) -> Any:
    """Write the bundle into `folder`, atomically, and return the report written.

    `regions`: regions.geojson as given (instead of the change map's own regions); `files`:
    more files by name; `extra`: writers of more files; `page`: report.html, from the staging
    folder and the sha256 of the files written before it. `report`: the report itself, or a
    function of the sha256 of every other file that makes it."""
    with atomic_dir(folder) as tmp:
        if change_map is not None:
            m = change_map
            write_change_tif(tmp / "change.tif", m.change, m.grid, dict(m.tags))
            if regions is None:
                regions = regions_geojson(m.change, m.grid, m.pixel_area_m2, m.about, m.what)
        if regions is not None:
            write_json(tmp / "regions.geojson", regions)
        if pictures is not None:
            _pictures(tmp, pictures)
        for name, content in (files or {}).items():
            (tmp / name).write_bytes(content)
        for writer in extra:
            writer(tmp)
        if page is not None:
            (tmp / "report.html").write_text(page(tmp, checksums(tmp)), "utf-8")
        made = report(checksums(tmp)) if callable(report) else report
        data = made.model_dump(mode="json") if isinstance(made, BaseModel) else made
        write_json(tmp / report_name, data)
    return made


def checksums(folder: Path) -> dict[str, str]:
    """The sha256 of every file in `folder`, by name."""
    return {f.name: sha256_file(f) for f in sorted(folder.iterdir()) if f.is_file()}


def _pictures(tmp: Path, p: Pictures) -> None:
    render.panel(tmp / "panel.png", p.before, p.after, p.change, p.panel, footprint=p.footprint)
    if p.flicker is not None:
        flicker(tmp / "flicker.gif", p.before, p.after, p.flicker, p.change)
    if p.stills:
        render.pictures(tmp / "before.png", tmp / "after.png", p.before, p.after)
