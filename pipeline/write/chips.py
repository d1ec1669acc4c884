"""A timeline's chips of the footprint (one small 8-bit picture per acquisition) as one picture,
timeline_chips.png, and back: `pack` lays them out in rows (a sprite), `crop` takes one out by
its box, which timeline.json gives per acquisition. One file instead of a hundred, so a claim's
folder keeps a fixed set of names; the review page is rebuilt from it. Pure but for `save`/`load`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

SPRITE = "timeline_chips.png"
MAX_WIDTH = 1024
"""Width of the sprite's rows (pixels); chips are ~20 x 20, so ~50 to a row."""
GAP = 1

Box = tuple[int, int, int, int]
"""(x, y, width, height) of a chip in the sprite."""


def pack(chips: Sequence[np.ndarray | None]) -> tuple[np.ndarray | None, list[Box | None]]:
    """The chips side by side in rows of at most MAX_WIDTH pixels, in order, and each one's box
    (None for an acquisition without a chip). Grey chips stay grey unless an RGB one is among
    them; the sprite is None when there is no chip at all."""
    boxes: list[Box | None] = []
    x = y = shelf = width = 0
    for c in chips:
        if c is None or c.size == 0:
            boxes.append(None)
            continue
        h, w = c.shape[:2]
        if x > 0 and x + w > MAX_WIDTH:
            x, y, shelf = 0, y + shelf + GAP, 0
        boxes.append((x, y, w, h))
        x += w + GAP
        shelf = max(shelf, h)
        width = max(width, x - GAP)
    if width == 0:
        return None, boxes
    rgb = any(c is not None and c.ndim == 3 for c in chips)
    sprite = np.zeros((y + shelf, width, 3) if rgb else (y + shelf, width), np.uint8)
    for c, b in zip(chips, boxes, strict=True):
        if c is None or b is None:
            continue
        bx, by, bw, bh = b
        sprite[by : by + bh, bx : bx + bw] = c[..., None] if rgb and c.ndim == 2 else c
    return sprite, boxes


def crop(sprite: np.ndarray, box: Sequence[int]) -> np.ndarray | None:
    """One chip out of the sprite; None when the box does not lie inside it."""
    x, y, w, h = (int(v) for v in box)
    if x < 0 or y < 0 or w <= 0 or h <= 0 or y + h > sprite.shape[0] or x + w > sprite.shape[1]:
        return None
    return sprite[y : y + h, x : x + w]


def png(picture: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # No optimize=True: on speckled chips it costs ~20x the time for ~2 % fewer bytes (a warm
    # many-parks window spent 1.2 s of its 2.5 s CPU there, benchmarks.timeline_scale)
    Image.fromarray(picture).save(buf, format="PNG")
    return buf.getvalue()


def save(path: Path, sprite: np.ndarray) -> None:
    path.write_bytes(png(sprite))


def load(path: Path) -> np.ndarray | None:
    """The sprite as an array (grey or RGB); None when it is missing or unreadable."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB" if im.mode not in ("L",) else "L"))
    except (OSError, ValueError):
        return None
