"""Sites as drawn, on a grid: which pixels are the site and which its located footprint. Pure."""

from __future__ import annotations

import numpy as np

from pipeline.config.site import Site
from pipeline.model.grid import Grid, polygon_mask


def site_masks(site: Site, grid: Grid) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(the site's polygon, its footprint) on the grid; None where that is the whole grid / none.
    A point site's square is the grid itself, up to the snapping of its edges."""
    within = polygon_mask(grid, [site.polygon]) if site.polygon is not None else None
    parts = site.footprint_parts()
    return within, (polygon_mask(grid, parts) if parts else None)
