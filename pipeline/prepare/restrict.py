"""Restrict an image to the site as drawn: pixels outside the site's polygon are not usable. Pure.

A polygon site is read on the grid of its bounding box (a grid is a rectangle); everything outside
the polygon is then marked not clear (and its bands NaN), so detection, the change map (255 there)
and every share of the site count only what lies inside.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline.model.image import Prepared


def restrict(img: Prepared, within: np.ndarray | None) -> Prepared:
    """`img` with everything outside `within` (bool, True inside the site) made unusable; shares
    of the site (clear, snow) are then measured inside it. None: `img` unchanged."""
    if within is None:
        return img
    if within.shape != img.clear.shape:
        raise ValueError(f"site mask {within.shape} and image {img.clear.shape} differ in shape")
    bands = {k: np.where(within, v, np.nan).astype(np.float32) for k, v in img.bands.items()}
    clear, snow = img.clear & within, img.snow & within
    return replace(img, bands=bands, clear=clear, snow=snow, within=within)


def clear_share(img: Prepared, area: np.ndarray | None) -> float:
    """Share of `area` (True inside; None: the site) that is clear in `img`."""
    if area is None:
        return img.clear_fraction
    n = int(area.sum())
    return float((img.clear & area).sum()) / n if n else 0.0
