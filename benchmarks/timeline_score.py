"""Scoring of `benchmarks.episodes` for `benchmarks.timeline`: an episode's arrival and departure
found or not, false events on empty footprints; and `fast_events`, a pure-Python replica of
`pipeline.detect.occupancy.series_events` for the tuning grid (checked against it there and in
tests/test_timeline_bench.py). Pure."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from benchmarks.episodes import Episode, Placement
from pipeline.detect.occupancy import Rule, State, series_events

TOLERANCE = timedelta(days=12)
"""A found event is dated 0-12 days after the true date (the first usable acquisition in the new
state)."""


# --- the rule replica for the grid ---------------------------------------------------------------


def _median(v: list[float]) -> float:
    s = sorted(v)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2.0


def fast_events(
    y: np.ndarray, used: np.ndarray, rule: Rule
) -> tuple[list[tuple[int, int]], list[State]]:
    """`series_events`' steps (index into the series, +1 arrival / -1 departure) and states,
    in pure Python for the tuning grid (same rule; checked against it in `tune`)."""
    n_all = y.shape[0]
    idx = np.flatnonzero(used & np.isfinite(y).all(axis=1))
    cols = [list(map(float, y[idx, j])) for j in range(y.shape[1])]
    n = len(idx)
    states: list[State] = ["unknown"] * n_all
    if n < rule.min_history + rule.confirm:
        return [], states
    scale = []
    for c in cols:
        d = [abs(b - a) for a, b in zip(c[:-1], c[1:], strict=True)]
        scale.append(
            max(rule.min_scale, 1.4826 * _median(d) / math.sqrt(2.0)) if d else rule.min_scale
        )
    need = [max(rule.z * s, rule.min_step) for s in scale]
    steps: list[tuple[int, int]] = []
    start, state = 0, None
    empty_ref: list[float] | None = None  # each column's level before the last arrival
    for i in range(rule.min_history, n - rule.confirm + 1):
        lo = max(start, i - rule.history)
        if i - lo < rule.min_history:
            continue
        up = down = back = True
        refs = []
        for j, (c, nd) in enumerate(zip(cols, need, strict=True)):
            ref = _median(c[lo:i])
            refs.append(ref)
            nxt = c[i : i + rule.confirm]
            up &= min(nxt) - ref >= nd
            down &= ref - max(nxt) >= nd
            if empty_ref is not None:
                back &= max(nxt) <= empty_ref[j] + nd / 2
        sign = 1 if up else (-1 if down else 0)
        if state == "occupied" and empty_ref is not None and not sign and back:
            sign = -1
        if not sign or (sign > 0 and state == "occupied") or (sign < 0 and state == "empty"):
            continue
        steps.append((i, sign))
        state, start = ("occupied" if sign > 0 else "empty"), i
        empty_ref = refs if sign > 0 else None
    if steps:
        first: State = "empty" if steps[0][1] > 0 else "occupied"
    else:
        level = _median([sum(v) / len(v) for v in zip(*cols, strict=True)])
        first = "empty" if abs(level) <= rule.empty_band else "unknown"
    bounds = [0] + [p for p, _ in steps] + [n]
    kinds = [first] + ["occupied" if sg > 0 else "empty" for _, sg in steps]
    for a, b, st in zip(bounds[:-1], bounds[1:], kinds, strict=True):
        for j in range(a, b):
            states[idx[j]] = st
    return [(int(idx[p]), sg) for p, sg in steps], states


def events_of(
    p: Placement, y: np.ndarray, rule: Rule, fast: bool
) -> tuple[list[tuple[int, int]], list[State]]:
    """Steps (acquisition index, sign) and states of one footprint's series."""
    used = p.used & np.isfinite(y).all(axis=1)
    if fast:
        return fast_events(y, used, rule)
    t = p.track
    r = series_events(t.times, y, used, rule, t.name)
    at = {w: j for j, w in enumerate(t.times)}
    steps = [(at[e.when], 1 if e.kind == "arrival" else -1) for e in r.events]
    return steps, list(r.states)


# --- scoring -------------------------------------------------------------------------------------


def judge_episode(ep: Episode, cols: tuple[int, ...], rule: Rule, fast: bool = False) -> dict:
    p, t = ep.place, ep.place.track
    steps, states = events_of(p, ep.stats[:, cols], rule, fast)

    def hit(sign: int, true: int) -> bool:
        return any(
            sg == sign and timedelta(0) <= t.times[j] - t.times[true] <= TOLERANCE
            for j, sg in steps
        )

    arr, dep = hit(1, p.i_arr), hit(-1, p.i_dep)
    occ = np.flatnonzero(p.occupied & p.used)
    return {
        "arr": arr,
        "dep": dep,
        "spurious": len(steps) - arr - dep,
        "dates": int(p.used.sum()),
        "occ": int(occ.size),
        "occ_empty": sum(states[j] == "empty" for j in occ),
    }


def judge_empty(p: Placement, cols: tuple[int, ...], rule: Rule, fast: bool = False) -> dict:
    steps, states = events_of(p, p.empty[:, cols], rule, fast)
    return {
        "events": len(steps),
        "dates": int(p.used.sum()),
        "called_occ": sum(s == "occupied" for s in states),
    }


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def recall(
    rows: list[tuple[Episode, dict]], key: str, min_ha: float = 0.0, model: str = ""
) -> tuple[float | None, int]:
    sel = [r for e, r in rows if e.place.size >= min_ha and (not model or e.model == model)]
    return ratio(sum(r[key] for r in sel), len(sel)), len(sel)


def false_rate(rows: list[dict]) -> float | None:
    return ratio(sum(r["events"] for r in rows), sum(r["dates"] for r in rows))
