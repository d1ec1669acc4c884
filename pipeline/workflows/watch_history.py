"""The history files of a watched site (history.csv, history.png), made from the state alone.

They are derived data: the state (watch.sqlite) holds every row. So they are rebuilt whenever
they are missing or say something else than the state, on every run, whatever happened to them
(a run killed between its commit and their writing, a user who deleted them).
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.workflows.state import HISTORY_COLUMNS, State
from pipeline.write import outdir


def history_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(HISTORY_COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in HISTORY_COLUMNS})
    return buf.getvalue()


def export_history(state: State, aoi: str, site_id: str, title: str, folder: Path) -> bool:
    """history.png then history.csv from the state, each by temp file + rename, when either is
    missing or history.csv does not say what the state says (so a run with nothing new, whose
    files are in order, writes nothing). A site with no history yet gets no files. Returns
    whether anything was written."""
    rows = state.history(aoi, site_id)
    if not rows:
        return False
    text = history_csv(rows)
    csv_path, png_path = folder / "history.csv", folder / "history.png"
    if png_path.is_file() and csv_path.is_file() and csv_path.read_text("utf-8") == text:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    outdir.record(folder, png_path.name, csv_path.name)  # before they exist: never unowned
    tmp_png = folder / f".history.png.{os.getpid()}.tmp"
    plot_history(rows, title, tmp_png)
    tmp_png.replace(png_path)
    tmp_csv = folder / f".history.csv.{os.getpid()}.tmp"
    tmp_csv.write_text(text, "utf-8")
    tmp_csv.replace(csv_path)
    return True


def plot_history(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    """Top: share of the site clear per acquisition (cloudy ones marked). Bottom: area that
    appeared (up) and disappeared (down) since the previous image, and the area that differs
    from the baseline (line): build-up rises, withdrawal falls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def d(r: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(r["acquired"])

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [1, 2]}
    )
    for outcome, colour, label in (("used", "tab:green", "used"), ("cloudy", "0.6", "cloudy")):
        pts = [r for r in rows if r["outcome"] == outcome and r["valid_fraction"] is not None]
        if pts:
            top.bar(
                [d(r) for r in pts],
                [100 * r["valid_fraction"] for r in pts],
                width=2.0,
                color=colour,
                label=label,
            )
    top.set_ylim(0, 100)
    top.set_ylabel("site clear (%)")
    if top.get_legend_handles_labels()[0]:
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    used = [r for r in rows if r["outcome"] == "used"]
    ha = 1 / 10000
    app = [(d(r), r["appeared_m2"] * ha) for r in used if r["appeared_m2"] is not None]
    dis = [(d(r), -r["disappeared_m2"] * ha) for r in used if r["disappeared_m2"] is not None]
    base = [
        (d(r), r["differs_from_baseline_m2"] * ha)
        for r in used
        if r["differs_from_baseline_m2"] is not None
    ]
    if app:
        bottom.bar(
            *zip(*app, strict=True), width=2.0, color="tab:red", label="appeared since previous"
        )
    if dis:
        bottom.bar(
            *zip(*dis, strict=True), width=2.0, color="tab:cyan", label="disappeared since previous"
        )
    if base:
        bottom.plot(*zip(*base, strict=True), "k.-", label="differs from baseline")
    bottom.axhline(0, color="0.3", lw=0.8)
    bottom.set_ylabel("area (ha)")
    if app or dis or base:
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    fig.suptitle(f"{title}: watch history ({len(rows)} acquisitions)")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
