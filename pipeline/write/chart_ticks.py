"""Ticks of the review page's timeline chart: round values on the y axis, the months on the
time axis and how many of them to label. Pure."""

from __future__ import annotations

import datetime as dt
import math


def ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    raw = (hi - lo) / n or 1.0
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + k * step, 6) for k in range(n + 2) if first + k * step <= hi]


def months(t0: dt.datetime, t1: dt.datetime) -> list[dt.datetime]:
    m = dt.datetime(t0.year, t0.month, 1)
    out = []
    while m <= t1:
        if m >= t0:
            out.append(m)
        m = dt.datetime(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


def month_step(n: int, most: int) -> int:
    return next((s for s in (1, 2, 3, 6, 12) if n / s <= most), 12)
