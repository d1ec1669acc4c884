"""`pipeline scan-sites`: chosen candidates of a finished scan as an AOI config for `run`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pipeline.config.lookup import NAME_RE
from pipeline.errors import InputError, Problem
from pipeline.workflows.scan_tile import ScanSpec
from pipeline.write.sites_yaml import write_config

DEFAULT_TOP = 10


def write_sites(
    scan_dir: Path, out: Path, aoi_name: str, top: int | None, ids: list[str] | None
) -> int:
    """Turn chosen candidates of a scan into an AOI config (one site per candidate: its box
    plus 100 m, and one claim with the scan's windows). Validated before it is written; an
    existing file is never overwritten. Returns the number of sites."""
    if top is not None and top < 1:
        raise InputError(
            Problem(
                "pipeline scan-sites",
                "--top",
                "must be at least 1 (the number of best-ranked candidates to take)",
                top,
                f"e.g. --top 5, or leave it out for the {DEFAULT_TOP} best",
            )
        )
    if not NAME_RE.match(aoi_name):
        raise InputError(
            Problem(
                "pipeline scan-sites",
                "--aoi-name",
                "is not a plain name",
                aoi_name,
                "use lower-case letters, digits, - and _",
            )
        )
    if out.suffix not in (".yaml", ".yml") or out.stem != aoi_name:
        raise InputError(
            Problem(
                str(out),
                "--out",
                f"is not named after the AOI ({aoi_name}.yaml): `pipeline run {aoi_name}` finds "
                "an AOI by its file name",
                None,
                f"give --out {out.with_name(aoi_name + '.yaml')}"
                + (f", or --aoi-name {out.stem}" if NAME_RE.match(out.stem) else ""),
            )
        )
    twice = sorted({i for i in ids or [] if (ids or []).count(i) > 1})
    if twice:
        raise InputError(
            Problem(
                "pipeline scan-sites",
                "--ids",
                "names a candidate more than once",
                " ".join(twice),
                "give each id once",
            )
        )
    if out.exists() or out.is_symlink():
        raise InputError(
            Problem(
                str(out),
                "--out",
                "exists; it is never overwritten",
                None,
                "choose a new file name, or move the old file away",
            )
        )
    try:
        cands = json.loads((scan_dir / "candidates.geojson").read_text("utf-8"))["features"]
        prov = json.loads((scan_dir / "scan.json").read_text("utf-8"))["scan"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            Problem(
                str(scan_dir),
                "DIR",
                f"is not a finished scan folder ({exc})",
                None,
                "give the --out folder of a finished `pipeline scan`",
            )
        ) from None
    by_id = {f["properties"]["id"]: f for f in cands}
    if ids:
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise InputError(
                Problem(
                    str(scan_dir / "candidates.geojson"),
                    "--ids",
                    "no such candidate",
                    ", ".join(unknown),
                    f"use ids from the file, e.g. {', '.join(list(by_id)[:3])}",
                )
            )
        chosen = [by_id[i] for i in ids]
    else:
        chosen = cands[: top or DEFAULT_TOP]
    if not chosen:
        raise InputError(
            Problem(
                str(scan_dir / "candidates.geojson"),
                "features",
                "holds no candidate",
                None,
                "scan a larger area or period",
            )
        )
    spec = ScanSpec(**{k: v for k, v in prov.items() if k in ScanSpec.__dataclass_fields__})
    sites = []
    for f in chosen:
        p = f["properties"]
        w, s, e, n = p["bbox_lonlat"]
        dlat = 100 / 111_000
        dlon = dlat / math.cos(math.radians((s + n) / 2))
        w, s, e, n = w - dlon, s - dlat, e + dlon, n + dlat
        sites.append(
            {
                "id": p["id"],
                "name": f"scan candidate {p['id']} ({p['direction']}, {p['area_m2'] / 1e4:.2f} ha)",
                "polygon": [
                    [round(w, 6), round(s, 6)],
                    [round(e, 6), round(s, 6)],
                    [round(e, 6), round(n, 6)],
                    [round(w, 6), round(n, 6)],
                ],
                "approximate": False,
                "source": f"pipeline scan {scan_dir} candidate {p['id']} (rank {p['rank']}, "
                f"evidence {p['evidence']}, tile {p['tile']})",
            }
        )
    windows = {
        n: {"start": a, "end": b, "sensor": spec.sensor} for n, (a, b) in spec.windows.items()
    }
    cfg: dict[str, Any] = {
        "aoi": aoi_name,
        "title": f"Candidates of the scan {spec.name}",
        "description": f"Sites from `pipeline scan` ({scan_dir}), to check one by one.",
    }
    if spec.catalog_kind != "auto":
        cfg["catalog"] = {"kind": spec.catalog_kind, "url": spec.catalog_url}
    cfg.update(
        max_cloud=spec.max_cloud,
        detector=spec.detector,
        detection=spec.detection,
        sites=sites,
        claims=[
            {
                "id": "scan-change",
                "date": spec.claim_date().isoformat(),
                "statement": "(scan) the change the scan found between the windows",
                "source": f"pipeline scan {scan_dir}",
                "windows": {n: windows[n] for n in ("baseline", "before", "after") if n in windows},
            }
        ],
    )
    write_config(out, cfg)
    return len(sites)
