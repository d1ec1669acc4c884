"""A median composite of the clear pixels of several acquisitions of one window. Pure.

Where clouds cover part of the site in every single acquisition, the per-pixel median of the
clear observations of a few acquisitions gives a view with fewer gaps and less noise. A pixel is
clear in the composite where at least one acquisition saw it clear.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from pipeline.model.image import Prepared


def median_composite(images: Sequence[Prepared], scene_ids: Sequence[str]) -> Prepared:
    """Per-pixel median of the clear observations of `images` (all on one grid); the notes say
    which scenes went into it. Bands missing from any image are left out."""
    if not images:
        raise ValueError("a composite needs at least one image")
    if len(images) != len(scene_ids):
        raise ValueError("one scene id per image")
    shape = images[0].clear.shape
    if any(im.clear.shape != shape for im in images):
        raise ValueError("images of a composite must share one grid")
    names = [k for k in images[0].bands if all(k in im.bands for im in images)]
    clear = np.logical_or.reduce([im.clear for im in images])
    bands = {}
    for name in names:
        stack = np.stack([np.where(im.clear, im.bands[name], np.nan) for im in images])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
            bands[name] = np.nanmedian(stack, axis=0).astype(np.float32)
    snow = np.logical_or.reduce([im.snow for im in images]) & ~clear
    notes: list[str] = [
        f"median composite of the clear pixels of {len(images)} acquisitions: "
        + ", ".join(scene_ids)
    ]
    for im in images:
        notes.extend(n for n in im.notes if n not in notes)
    return Prepared(bands, clear, snow, all(im.has_cloud_mask for im in images), tuple(notes))
