"""Pure planning: one scene per acquisition, and one Sentinel-1 orbit for every window."""

from __future__ import annotations

from datetime import date

from shapely.geometry import box, shape

from pipeline.model.scene import Scene

SAME_ACQUISITION_S = 600


def dedupe(scenes: list[Scene], site_box: tuple[float, float, float, float]) -> list[Scene]:
    """One scene per acquisition: overlapping MGRS tiles repeat it; keep the one that covers
    the site best (then the less cloudy)."""
    aoi = box(*site_box)

    def cover(s: Scene) -> float:
        return shape(s.geometry).intersection(aoi).area / aoi.area if s.geometry else 0.0

    kept: list[Scene] = []
    for s in sorted(scenes, key=lambda s: s.datetime):
        twin = next(
            (
                k
                for k in kept
                if k.platform == s.platform
                and abs((k.datetime - s.datetime).total_seconds()) < SAME_ACQUISITION_S
            ),
            None,
        )
        if twin is None:
            kept.append(s)
        elif (cover(s), -(s.cloud_cover or 0)) > (cover(twin), -(twin.cloud_cover or 0)):
            kept[kept.index(twin)] = s
    return kept


def relative_orbit(scene: Scene) -> int | None:
    value = scene.properties.get("sat:relative_orbit")
    return int(value) if isinstance(value, int | float) else None


def common_orbit(found: dict[str, list[Scene]], claim_date: date) -> tuple[int | None, str | None]:
    """The relative orbit every window can be seen from, so that all radar pictures share one
    viewing geometry (incidence angle, look direction, layover): (orbit, None); (None, why) when
    no orbit passes in every window; (None, None) when the catalogue does not say (no filter).
    Among several, the one whose scenes lie nearest the claim date."""
    orbits: dict[str, set[int]] = {}
    for name, scenes in found.items():
        known = {o for s in scenes if (o := relative_orbit(s)) is not None}
        if scenes and not known:
            return None, None
        if known:
            orbits[name] = known
    if not orbits:
        return None, None
    shared = set.intersection(*orbits.values())
    if not shared:
        listed = "; ".join(f"{n}: {', '.join(map(str, sorted(o)))}" for n, o in orbits.items())
        return None, (
            f"no Sentinel-1 relative orbit passes over the site in every window ({listed}): "
            "pictures from different orbits differ in geometry, not only in what is on the ground; "
            "widen the windows"
        )

    def distance(orbit: int) -> int:
        return sum(
            min(abs((s.date - claim_date).days) for s in scenes if relative_orbit(s) == orbit)
            for scenes in found.values()
            if scenes
        )

    return min(sorted(shared), key=distance), None
