"""benchmarks.timeline on one real series: dense parks that arrive, stay and leave in the real
Sentinel-1 series of Tanzania (cropland, 60 acquisitions, one orbit) are found by the pipeline's
occupancy timeline, and its empty footprints give few false events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import episodes, seasons, timeline, timeline_score


@pytest.fixture(scope="module")
def tanzania(shared_data: Path) -> episodes.Track:
    _, radar = seasons.load_all()
    (track,) = [t for t in episodes.tracks(radar) if t.series.name == "tanzania"]
    return track


@pytest.fixture(scope="module")
def simulated(
    tanzania: episodes.Track,
) -> tuple[list[episodes.Placement], list[episodes.Episode]]:
    return episodes.simulate(tanzania, 4, ("dense",), 0)


def test_episodes_are_well_formed(
    simulated: tuple[list[episodes.Placement], list[episodes.Episode]],
) -> None:
    places, eps = simulated
    assert len(places) == 12 and len(eps) >= 10
    for p in places:
        assert episodes.ring_fits(p.foot, p.track.series.pixel_m)
        assert not (p.ring & p.foot).any()
    for e in eps:
        p = e.place
        assert p.used[: p.i_arr].sum() >= episodes.MIN_BEFORE
        assert p.used[p.i_dep :].sum() >= episodes.MIN_AFTER
        assert 30 <= p.t_dep - p.t_arr <= 120
        # the park raises the footprint on the dates it stays, and only there
        occ = p.occupied & p.used
        assert np.array_equal(e.stats[~p.occupied], p.empty[~p.occupied], equal_nan=True)
        assert np.median(e.stats[occ, 9] - p.empty[occ, 9]) > 1.0  # the ratio of means, dB
        assert np.median(e.stats[occ, 0] - p.empty[occ, 0]) > 0.2  # the bright share
        assert np.median(e.stats[occ, 10] - p.empty[occ, 10]) > 0.2  # that of VV and VH's mean


def test_dense_parks_found_and_few_false_events(
    simulated: tuple[list[episodes.Placement], list[episodes.Episode]],
) -> None:
    places, eps = simulated
    cols, rule = timeline.VARIANTS["pipeline"]  # the pipeline's measure and rule
    rows = [timeline_score.judge_episode(e, cols, rule) for e in eps]
    assert np.mean([r["dep"] for r in rows]) >= 0.6
    assert np.mean([r["arr"] for r in rows]) >= 0.6
    empty = [timeline_score.judge_empty(p, cols, rule) for p in places]
    rate = timeline_score.false_rate(empty)
    assert rate is not None and rate <= 0.02
    # the tuning grid's replica of the rule gives the pipeline's own answers
    assert rows == [timeline_score.judge_episode(e, cols, rule, fast=True) for e in eps]
    assert empty == [timeline_score.judge_empty(p, cols, rule, fast=True) for p in places]
