"""The history files of a watched site (history.csv, history.png), made from the state alone.

They are derived data: the state (watch.sqlite) holds every row. So they are rebuilt whenever
they are missing or say something else than the state, on every run, whatever happened to them
(a run killed between its commit and their writing, a user who deleted them).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pipeline.workflows.state import HISTORY_COLUMNS, State
from pipeline.write import outdir
from pipeline.write.atomic import atomic_file, write_atomic
from pipeline.write.history import plot_history


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
    with atomic_file(png_path) as tmp_png:
        plot_history(rows, title, tmp_png)
    write_atomic(csv_path, text)
    return True
