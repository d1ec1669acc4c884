"""history.png of a watched site: its clear share and the change since the previous image, per
acquisition (`pipeline.workflows.watch_history` writes it from the state)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any


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
