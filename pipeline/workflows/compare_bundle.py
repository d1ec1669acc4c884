"""What `pipeline compare` writes: the bundle `run` writes for a check (`pipeline.write.bundle`),
with the comparison's words on its pictures and its review page (`compare_page`), then
report.json with the sha256 of every other file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.detect.core import Detection
from pipeline.model.grid import Grid
from pipeline.write import bundle
from pipeline.write.compare_page import compare_html
from pipeline.write.flicker import FlickerText
from pipeline.write.render import PanelText, pixel_size
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
    out: Path,
    report: CompareReport,
    found: Detection,
    grid: Grid,
    area_m2: float,
    shown: Shown,
    summary: tuple[str, ...],
) -> CompareReport:
    """Write change.tif (+ .aux.xml), regions.geojson, panel.png, before.png, after.png,
    flicker.gif, report.html and report.json into `out`, atomically (`bundle.write`); returns
    the report with its outputs."""
    change = found.change
    tags = {"before": shown.before, "after": shown.after, "software": report.software}
    about = {
        "before_file": shown.before,
        "before_date": shown.before_date,
        "after_file": shown.after,
        "after_date": shown.after_date,
    }
    scale_m, aspect = pixel_size(grid)
    outline = tuple(grid.to_pixels(list(shown.outline_lonlat))) if shown.outline_lonlat else ()
    labels = (shown.label("before"), shown.label("after"))
    pictures = bundle.Pictures(
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
        flicker=FlickerText(
            labels=labels,
            caption=f"{shown.before} → {shown.after}: " + summary[0] if summary else "",
            credit=report.credit,
            scale_m=None if grid.crs.is_geographic else scale_m,  # its bar assumes square pixels
            outline_px=outline,
        ),
        stills=True,
    )
    written: CompareReport = bundle.write(
        out,
        lambda outputs: report.model_copy(update={"outputs": outputs}),
        change_map=bundle.ChangeMap(change, grid, area_m2, tags, about),
        pictures=pictures,
        page=lambda tmp, files: compare_html(report, tmp, files, list(shown.outline_lonlat)),
    )
    return written
