"""The before | after | change panel that people look at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from pipeline.detect import ARRIVAL, DEPARTURE, UNDETERMINED, Change  # noqa: E402
from pipeline.prepare import Prepared  # noqa: E402

COLOURS = {ARRIVAL: (1.0, 0.15, 0.1), DEPARTURE: (0.0, 0.85, 1.0), UNDETERMINED: (1.0, 0.85, 0.0)}


@dataclass(frozen=True)
class PanelText:
    title: str
    before_label: str
    after_label: str
    verdict: str
    reasons: tuple[str, ...]
    credit: str
    scale_m: float


def rgb(
    img: Prepared, lo_hi: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """True-colour picture in 0..1 with a 2-98 % stretch (reuse `lo_hi` to stretch a pair alike).
    Unusable pixels are shown mid-grey."""
    keys = ("red", "green", "blue") if "blue" in img.bands else tuple(list(img.bands)[:3])
    stack = np.dstack([img.bands[k] for k in keys]).astype(np.float32)
    if lo_hi is None:
        finite = stack[np.all(np.isfinite(stack), axis=2)]
        if finite.size:
            lo, hi = np.percentile(finite, 2, axis=0), np.percentile(finite, 98, axis=0)
        else:
            lo, hi = np.zeros(3, np.float32), np.ones(3, np.float32)
        lo_hi = (lo, np.maximum(hi, lo + 1e-3))
    out = np.clip((stack - lo_hi[0]) / (lo_hi[1] - lo_hi[0]), 0, 1)
    out[~np.all(np.isfinite(out), axis=2)] = 0.5
    return out, lo_hi


def overlay(base: np.ndarray, change: Change) -> np.ndarray:
    grey = base.mean(axis=2, keepdims=True) * 0.6 + 0.2
    out = np.repeat(grey, 3, axis=2)
    out[~change.valid] = (0.35, 0.35, 0.35)
    for code, colour in COLOURS.items():
        out[change.direction == code] = colour
    return out


def _scalebar(ax: plt.Axes, width_px: int, height_px: int, metres_per_px: float) -> None:
    target = width_px * metres_per_px / 4
    nice = [100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    length = max([n for n in nice if n <= target] or [nice[0]])
    px = length / metres_per_px
    x0, y0 = width_px * 0.05, height_px * 0.94
    ax.plot([x0, x0 + px], [y0, y0], color="white", lw=3, solid_capstyle="butt")
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(x0, y0 - height_px * 0.02, label, color="white", fontsize=8, va="bottom")


def panel(path: Path, before: Prepared, after: Prepared, change: Change, text: PanelText) -> None:
    b, stretch = rgb(before)
    a, _ = rgb(after, stretch)
    c = overlay(a, change)
    h, w = b.shape[:2]
    fig_w = 15
    fig_h = fig_w / 3 * h / w + 1.6
    fig, axes = plt.subplots(1, 3, figsize=(fig_w, fig_h), dpi=110)
    for ax, img, label in zip(
        axes,
        (b, a, c),
        (text.before_label, text.after_label, "change (before → after)"),
        strict=True,
    ):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        _scalebar(ax, w, h, text.scale_m)
    axes[2].legend(
        handles=[
            Patch(color=COLOURS[ARRIVAL], label="arrival"),
            Patch(color=COLOURS[DEPARTURE], label="departure"),
            Patch(color=COLOURS[UNDETERMINED], label="change, direction unclear"),
            Patch(color=(0.35, 0.35, 0.35), label="not usable (cloud, snow, no data)"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        fontsize=8,
        ncol=2,
        frameon=False,
    )
    fig.suptitle(text.title, fontsize=12)
    verdict = f"Verdict: {text.verdict.upper()} — " + "; ".join(text.reasons)
    fig.text(0.01, 0.02, _wrap(verdict, 140) + "\n" + text.credit, fontsize=9, va="bottom")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, format="png")
    plt.close(fig)


def _wrap(s: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(s, width))
