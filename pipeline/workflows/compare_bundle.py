"""What `pipeline compare` writes into its (staging) folder: the bundle `run` writes for a check,
with run's own writers (`write_change_tif`, `regions_geojson`, `render.panel`, `flicker.flicker`,
`render.pictures`) and the comparison's review page (`compare_page`), then report.json with the
sha256 of every other file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.detect.core import Detection
from pipeline.model.grid import Grid
from pipeline.write.compare_page import compare_html
from pipeline.write.export import regions_geojson, sha256_file, write_change_tif, write_json
from pipeline.write.flicker import FlickerText, flicker
from pipeline.write.render import PanelText, panel, pictures, pixel_size
from pipeline.write.report import CompareReport


@dataclass(frozen=True)
class Shown:
    """The two pictures shown, as the report names and dates them."""

    before: str
    after: str
    before_date: str | None
    after_date: str | None
    outline_lonlat: tuple[tuple[float, float], ...] = ()
    """The `--site` outline (its first polygon), drawn on the pictures as `run` draws a site."""

    def label(self, window: str) -> str:
        name, day = (
            (self.before, self.before_date) if window == "before" else (self.after, self.after_date)
        )
        return f"{window} {day or 'date unknown'}: {name}"


def write_bundle(
    tmp: Path,
    report: CompareReport,
    found: Detection,
    grid: Grid,
    area_m2: float,
    shown: Shown,
    summary: tuple[str, ...],
) -> CompareReport:
    """Write change.tif (+ .aux.xml), regions.geojson, panel.png, before.png, after.png,
    flicker.gif, report.html and report.json into `tmp`; returns the report with its outputs."""
    change = found.change
    write_change_tif(
        tmp / "change.tif",
        change,
        grid,
        {"before": shown.before, "after": shown.after, "software": report.software},
    )
    about = {
        "before_file": shown.before,
        "before_date": shown.before_date,
        "after_file": shown.after,
        "after_date": shown.after_date,
    }
    write_json(tmp / "regions.geojson", regions_geojson(change, grid, area_m2, about))
    scale_m, aspect = pixel_size(grid)
    outline = tuple(grid.to_pixels(list(shown.outline_lonlat))) if shown.outline_lonlat else ()
    labels = (shown.label("before"), shown.label("after"))
    panel(
        tmp / "panel.png",
        found.before,
        found.after,
        change,
        PanelText(
            title=f"{shown.before} → {shown.after}",
            before_label=labels[0],
            after_label=labels[1],
            verdict="change",
            reasons=summary + tuple(report.flags),
            credit=report.credit,
            scale_m=scale_m,
            pixel_aspect=aspect,
            change_words=("appeared", "disappeared"),
            flags=tuple(report.flags),
            outline_px=outline,
        ),
    )
    flicker(
        tmp / "flicker.gif",
        found.before,
        found.after,
        FlickerText(
            labels=labels,
            caption=f"{shown.before} → {shown.after}: " + summary[0] if summary else "",
            credit=report.credit,
            scale_m=None if grid.crs.is_geographic else scale_m,  # its bar assumes square pixels
            outline_px=outline,
        ),
        change,
    )
    pictures(tmp / "before.png", tmp / "after.png", found.before, found.after)
    files = {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file()}
    (tmp / "report.html").write_text(
        compare_html(report, tmp, files, list(shown.outline_lonlat)), "utf-8"
    )
    outputs = {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file()}
    report = report.model_copy(update={"outputs": outputs})
    write_json(tmp / "report.json", report.model_dump(mode="json"))
    return report
