"""The many-parks map of index.html on the real located parks (../shared/reference): every
place is named (parks whose dots coincide at the map's scale once, "pogonovo (10)"), no name
overlaps another or a park's dot, none runs off the map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.config.footprints import load_footprints
from pipeline.write.scan_map import label_box
from pipeline.write.timeline_summary import LABEL_PX, MAP_W, _map


def test_the_map_names_every_park_without_overlap(shared_data: Path, tmp_path: Path) -> None:
    parks = shared_data.parent / "reference" / "vehicle-parks-2021.geojson"
    if not parks.is_file():
        pytest.skip(f"{parks} is absent")
    doc = json.loads(parks.read_text())
    del doc["features"][12]  # its outline crosses itself (refused; see test_timeline_many)
    fixed = tmp_path / "parks.geojson"
    fixed.write_text(json.dumps(doc))
    fps = load_footprints(fixed, "--footprints")
    records = {fp.name: {"state": "empty", "last_event": None} for fp in fps}
    svg = _map(fps, records, {fp.name for fp in fps})
    height = float(re.search(r'viewBox="0 0 [\d.]+ ([\d.]+)"', svg).group(1))
    labels = re.findall(r'<text x="([\d.-]+)" y="([\d.-]+)">([^<]+)</text></a>', svg)
    names = [t for *_, t in labels]
    places = {fp.name.rsplit("-", 1)[0] for fp in fps}
    assert len(places) == 9  # 31 parks at 9 places (Klintsy and Zaymishche 3 km apart)
    told = 0
    for n in names:
        for part in n.split(", "):
            m = re.fullmatch(r"(.+) \((\d+)\)", part)
            stem, count = (m.group(1), int(m.group(2))) if m else (part.rsplit("-", 1)[0], 1)
            assert stem in places, n
            places.discard(stem)
            told += count
    assert not places and told == len(fps)  # every place named, every park counted once
    boxes = [label_box(float(x), float(y), t, LABEL_PX) for x, y, t in labels]
    for i, a in enumerate(boxes):
        assert a[0] >= 0 and a[1] >= 0 and a[2] <= MAP_W and a[3] <= height, names[i]
        for j, b in enumerate(boxes[:i]):
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (
                names[i],
                names[j],
            )
    dots = [
        (float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    ]
    for (x, y), box in ((d, b) for d in dots for b in boxes):
        assert not (box[0] < x < box[2] and box[1] < y < box[3])
