"""Judge a withdrawal claim at a known park from its occupancy timeline. Pure.

A claim is decided by a departure at a known place. From the footprint's timeline
(`pipeline.detect.occupancy`: every acquisition, the footprint against a ring around it, per
sensor and orbit), radar first (optical where radar has too few usable acquisitions):

* occupied before the claim, a departure between the claim date and the end of the after
  window, and empty at the end of it → supported (also when the departure came before the claim
  and the footprint stayed empty: they had left by the time it was said);
* occupied on the last usable acquisition of the after window → not supported;
* never occupied on any usable acquisition up to the claim → inconclusive: nothing to withdraw
  (the timeline shows no arrival, or the footprint differs from its ring throughout and no change
  tells what it is);
* too few usable acquisitions (before or after the claim) → inconclusive, saying how many.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from pipeline.config.schema import Claim
from pipeline.detect.occupancy import RULES, State
from pipeline.detect.timeline import FootprintTimeline, Row
from pipeline.judge.verdict import Judgement
from pipeline.model.verdict import Verdict

KINDS = ("radar", "optical")
"""Radar leads; optical is used where radar has too few usable acquisitions."""


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59))


TOO_FEW = "timeline: too few usable acquisitions of the footprint"


def judge_timeline(tl: FootprintTimeline, claim: Claim) -> Judgement:
    """The verdict the timeline gives for `claim`, with its reasons and numbers; when it has too
    few usable acquisitions its one reason starts with TOO_FEW (see `decided`)."""
    claim_t = _end_of(claim.date)
    end_t = _end_of(claim.windows.after.end)
    tried: list[str] = []
    for kind in KINDS:
        series = [
            s
            for s in tl.built.timeline.series
            if any(r.kind == kind and r.series == s.key for r in tl.rows)
        ]
        if not series:
            continue
        rule = RULES[kind]
        rows = [
            (r, st)
            for r, st in zip(tl.rows, tl.built.states, strict=True)
            if r.kind == kind and r.measure.used and r.when <= end_t
        ]
        before = [(r, st) for r, st in rows if r.when <= claim_t]
        after = [(r, st) for r, st in rows if r.when > claim_t]
        able = [s for s in series if s.problem is None]
        if not able or len(before) < rule.min_history or not after:
            tried.append(
                f"{kind}: {len(before)} usable acquisition(s) up to the claim and {len(after)} "
                f"after it in the after window (need {rule.needed} in one series, "
                f"{rule.min_history} before the claim and 1 after)"
            )
            continue
        return _decide(tl, kind, before, after, claim)
    return Judgement(
        Verdict.INCONCLUSIVE,
        (
            "timeline: too few usable acquisitions of the footprint: "
            + "; ".join(tried or ["no acquisition"]),
        ),
        {"timeline_used": float(sum(1 for r in tl.rows if r.measure.used))},
    )


def _decide(
    tl: FootprintTimeline,
    kind: str,
    before: list[tuple[Row, State]],
    after: list[tuple[Row, State]],
    claim: Claim,
) -> Judgement:
    keys = {r.series for r, _ in before + after}
    events = [e for e in tl.built.timeline.events if set(e.series.split("+")) & keys]
    state_before = before[-1][1]
    last_after, state_end = after[-1][0], after[-1][1]
    occupied_before = [r for r, st in before if st == "occupied"]
    numbers = {
        "timeline_used_before": float(len(before)),
        "timeline_used_after": float(len(after)),
        "timeline_events": float(len(events)),
    }
    n_text = (
        f"{kind} timeline of the footprint: {len(before)} usable acquisitions up to the claim, "
        f"{len(after)} after it to {claim.windows.after.end}"
    )
    deps = [e for e in events if e.kind == "departure"]
    arrs = [e for e in events if e.kind == "arrival"]
    if not occupied_before:
        why = (
            "no arrival seen and the footprint differs from its ring throughout: what it holds "
            "is not told by any change"
            if state_before == "unknown"
            else "the footprint is empty on every usable acquisition up to the claim"
        )
        return Judgement(
            Verdict.INCONCLUSIVE,
            (f"nothing to withdraw: {why} ({n_text})",),
            numbers,
        )
    last_dep = max(
        (e for e in deps if e.when <= last_after.when), key=lambda e: e.when, default=None
    )
    if state_end == "occupied":
        since = max(
            (e for e in arrs if e.when <= last_after.when), key=lambda e: e.when, default=None
        )
        return Judgement(
            Verdict.NOT_SUPPORTED,
            (
                f"the footprint is still occupied on {last_after.when:%Y-%m-%d} (last usable "
                f"acquisition of the after window"
                + (f"; occupied since the arrival of {since.date}" if since else "")
                + f") ({n_text})",
            ),
            numbers,
        )
    if state_end == "empty" and last_dep is not None:
        numbers["timeline_departure_days_after_claim"] = float((last_dep.date - claim.date).days)
        when = (
            f"a departure on {last_dep.date} ({last_dep.series}, {last_dep.score:+.1f} noise units)"
        )
        if last_dep.date > claim.date:
            text = (
                f"occupied up to {occupied_before[-1].when:%Y-%m-%d}; {when}, after the claim; "
                f"empty on {last_after.when:%Y-%m-%d} (last usable acquisition of the after window)"
            )
        else:
            text = (
                f"{when}, before the claim; empty from then to {last_after.when:%Y-%m-%d} (they "
                "had left when it was said)"
            )
        return Judgement(Verdict.SUPPORTED, (f"{text} ({n_text})",), numbers)
    return Judgement(
        Verdict.INCONCLUSIVE,
        (
            f"occupied before the claim (up to {occupied_before[-1].when:%Y-%m-%d}) but the "
            f"timeline shows no departure by {last_after.when:%Y-%m-%d} and the footprint's "
            f"state there is {state_end} ({n_text})",
        ),
        numbers,
    )


def decided(j: Judgement) -> bool:
    """Whether a timeline judgement rests on enough usable acquisitions."""
    return not (j.reasons and j.reasons[0].startswith(TOO_FEW))


def combine(windows: Judgement, timeline: Judgement | None, why_none: str = "") -> Judgement:
    """The check's verdict: the timeline's where it had enough usable acquisitions, the window
    change maps' otherwise; the other one is kept as a second opinion, and where they disagree
    the reasons say so (and a flag asks a reviewer to look)."""
    if timeline is None or not decided(timeline):
        told = timeline.reasons[0] if timeline is not None else why_none
        if not told:
            return windows
        return replace(
            windows,
            reasons=(*windows.reasons, f"{told}: the verdict is the window change maps'"),
        )
    second = f"second opinion, the window change maps: {windows.verdict}" + (
        f" ({windows.reasons[0]})" if windows.reasons else ""
    )
    flags = windows.flags
    if windows.verdict != timeline.verdict:
        second = "the window change maps disagree with the timeline: " + second.split(": ", 1)[1]
        flags = (
            *flags,
            f"timeline says {timeline.verdict}, window change maps say {windows.verdict}: "
            "look at the timeline chart and the panel",
        )
    return Judgement(
        timeline.verdict,
        (*timeline.reasons, second, *windows.reasons[1:]),
        {**windows.numbers, **timeline.numbers},
        flags,
    )
