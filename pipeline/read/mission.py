"""What a user's image says it is, for `pipeline compare`'s credit line (`pipeline.write.credit`)
and its link back to the source: the mission found in the file's name (Copernicus and USGS product
names: S2A_MSIL2A_…, S1B_IW_GRDH_…, LC08_L2SP_…), its tags (TIFFTAG_IMAGEDESCRIPTION, platform,
mission, …) or its band descriptions — or that the file does not say. Pure: names and strings in,
a `Source` out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_NAME = re.compile(
    r"(?<![A-Za-z0-9])(?:(?P<s2>S2[ABCD])_MSI(?P<level>L1C|L2A)|(?P<s1>S1[ABCD])_"
    r"|(?P<l>L[COTE]0[5789])_)",
    re.IGNORECASE,
)
_TEXT = re.compile(
    r"sentinel[-_ ]?(?P<s>[12])(?P<unit>[abcd])?\b|landsat[-_ ]?(?P<l>[5789])\b", re.IGNORECASE
)
SOURCE_TAGS = (
    "TIFFTAG_IMAGEDESCRIPTION",
    "platform",
    "PLATFORM",
    "mission",
    "MISSION",
    "SPACECRAFT_NAME",
    "SPACECRAFT_ID",
    "constellation",
    "sensor",
    "PRODUCT_TYPE",
)
"""Dataset tags read, in this order, for a mission name."""


@dataclass(frozen=True)
class Source:
    mission: str
    """"Sentinel-2A", "Sentinel-1", "Landsat 8", …"""
    said_by: str
    """Where: "file name", "tag TIFFTAG_IMAGEDESCRIPTION", "band descriptions"."""
    sensor: str | None = None
    """The pipeline's sensor name, for a link to the Copernicus Browser (None: no link)."""

    @property
    def copernicus(self) -> bool:
        return self.mission.startswith("Sentinel")


def _from_name(name: str) -> Source | None:
    m = _NAME.search(name)
    if m is None:
        return None
    if m["s2"]:
        level = m["level"].lower()
        return Source(f"Sentinel-{m['s2'][1:].upper()}", "file name", f"sentinel-2-{level}")
    if m["s1"]:
        return Source(f"Sentinel-{m['s1'][1:].upper()}", "file name", "sentinel-1-grd")
    return Source(f"Landsat {int(m['l'][2:])}", "file name")


def _from_text(text: str, said_by: str, bands: Sequence[str]) -> Source | None:
    m = _TEXT.search(text)
    if m is None:
        return None
    if m["l"]:
        return Source(f"Landsat {m['l']}", said_by)
    unit = (m["unit"] or "").upper()
    if m["s"] == "1":
        return Source(f"Sentinel-1{unit}", said_by, "sentinel-1-grd")
    level = "l1c" if "L1C" in text.upper() else "l2a" if "L2A" in text.upper() else None
    if level is None:
        level = "l2a" if "scl" in bands else "l1c"
    return Source(f"Sentinel-2{unit}", said_by, f"sentinel-2-{level}")


def identify(
    file_name: str,
    tags: Mapping[str, str],
    descriptions: Sequence[str | None],
    bands: Sequence[str],
) -> Source | None:
    """The mission a file says it holds: by its name, then its tags, then its band descriptions;
    None when it does not say (band names such as B04 alone do not tell whose imagery it is)."""
    found = _from_name(file_name)
    if found is not None:
        return found
    for key in SOURCE_TAGS:
        value = tags.get(key)
        if value and (found := _from_text(value, f"tag {key}", bands)) is not None:
            return found
    text = " ".join(d for d in descriptions if d)
    return _from_text(text, "band descriptions", bands)
