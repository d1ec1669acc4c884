"""A config's problems as the user reads them: pydantic's validation errors turned into
`Problem`s naming the file, the line, the field, the value and the fix; and the warnings about a
valid config (sites that look like lat and lon swapped)."""

from __future__ import annotations

import calendar
import difflib
import math
import re
from typing import Any

import yaml
from pydantic import BaseModel

from pipeline.config.schema import AOIConfig
from pipeline.config.yamlload import line_of
from pipeline.errors import Problem

SWAP_WARN_KM = 1000.0
"""A site this far from every other site of its AOI, which would be near them with lat and lon
swapped, gets a warning."""


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def swapped_sites(cfg: AOIConfig, file: str, node: yaml.Node | None = None) -> list[Problem]:
    """Warnings for sites that look like lat and lon swapped: far (SWAP_WARN_KM) from every
    other site's box, and near one of them once swapped."""
    out = []
    for i, site in enumerate(cfg.sites):
        others = [o for o in cfg.sites if o.id != site.id]
        if not others:
            continue
        lon, lat = site.centre()
        if not -90 <= lon <= 90:
            continue  # swapped, it would not be a latitude
        away = min(_km((lon, lat), o.centre()) for o in others)
        near, best = min(((_km((lat, lon), o.centre()), o) for o in others), key=lambda t: t[0])
        if away > SWAP_WARN_KM and near < SWAP_WARN_KM / 4:
            loc: tuple[Any, ...] = ("sites", i, "point" if site.point else "polygon")
            out.append(
                Problem(
                    file,
                    f"sites[{i}].{loc[2]}",
                    f"site {site.id!r} is {away:,.0f} km from every other site; with lat and lon "
                    f"swapped it would be {near:,.0f} km from {best.id!r}",
                    value=f"lat {lat:g}, lon {lon:g}",
                    line=line_of(node, loc),
                    fix="check the order: point is {lat, lon}, polygon corners are [lon, lat]",
                )
            )
    return out


_FIXES = {
    "date_from_datetime_parsing": "write dates as YYYY-MM-DD",
    "date_parsing": "write dates as YYYY-MM-DD",
    "date_type": "write dates as YYYY-MM-DD",
    "date_from_datetime_inexact": "write dates as YYYY-MM-DD",
    "float_parsing": "write a number",
    "float_type": "write a number (without quotes)",
    "finite_number": "write a finite number (not .nan or .inf)",
    "int_type": "write a whole number (without quotes)",
    "int_parsing": "write a whole number (without quotes)",
    "int_from_float": "write a whole number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false (without quotes)",
    "string_type": "write text (quote it if it looks like a number or date)",
    "string_pattern_mismatch": "use lower-case letters, digits, '-' and '_' only",
    "greater_than": "use a positive number",
    "too_short": "add at least one entry",
    "list_type": "write a YAML list (lines starting with '- ')",
    "tuple_type": "write a [lon, lat] pair",
    "model_type": "write a mapping of fields",
    "dict_type": "write a mapping of fields",
    "literal_error": "",
}


def to_problem(file: str, node: yaml.Node | None, err: Any) -> Problem:
    loc = tuple(err["loc"])
    etype = err["type"]
    ctx = err.get("ctx") or {}
    field = _field_name(loc)
    value = err.get("input")
    if etype == "config":
        if ctx.get("at"):
            loc = tuple(int(p) if p.isdigit() else p for p in ctx["at"].split("."))
            field = _field_name(loc)
        shown = (
            value if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        )
        return Problem(file, field, ctx["problem"], shown, ctx["fix"], line_of(node, loc))
    if etype == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        fix = (f"did you mean {close[0]!r}? " if close else "remove it; ") + (
            f"fields allowed here: {', '.join(allowed)}"
        )
        return Problem(file, field, "unknown field", None, fix, line_of(node, loc))
    if etype == "missing":
        return Problem(file, field, "required field is missing", None, "add it", line_of(node, loc))
    fix = _FIXES.get(etype, "")
    if etype == "literal_error":
        fix = f"use one of: {ctx.get('expected', '')}"
    bounds = {
        "greater_than": "more than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if etype in bounds and "limit_value" not in ctx:
        for k in ("gt", "ge", "lt", "le"):
            if k in ctx:
                fix = f"use a number {bounds[etype]} {ctx[k]}"
    if etype in bounds:
        fix = _range_fix(loc) or fix
    if etype.startswith("date") and isinstance(value, str):
        fix = _date_fix(value) or fix
    if etype == "too_short" and len(loc) > 1 and loc[-1] == "sites":
        fix = "name at least one site id, or leave sites: out to check the claim at every site"
    if isinstance(value, dict | list):
        value = None
    if not fix:
        fix = "see configs/demo.yaml and README (Adding an area of interest) for this field"
    return Problem(file, field, err["msg"], value, fix, line_of(node, loc))


def _range_fix(loc: tuple[Any, ...]) -> str:
    """'use a number from 0 to 100' for a bounded field, read from the model's constraints."""
    model: Any = AOIConfig
    info = None
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return ""
        nxt = None
        for cand in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                nxt = cand
        model = nxt
    if info is None:
        return ""
    lo = hi = None
    lo_op = hi_op = ""
    for m in info.metadata:
        for attr, op in (("gt", ">"), ("ge", "≥")):
            if getattr(m, attr, None) is not None:
                lo, lo_op = getattr(m, attr), op
        for attr, op in (("lt", "<"), ("le", "≤")):
            if getattr(m, attr, None) is not None:
                hi, hi_op = getattr(m, attr), op
    parts = [f"{op} {v:g}" for v, op in ((lo, lo_op), (hi, hi_op)) if v is not None]
    return f"use a number {' and '.join(parts)}" if parts else ""


def _date_fix(value: str) -> str:
    """For a date that does not exist: how many days its month has."""
    m = re.fullmatch(r"\s*(\d{4})-(\d{2})-(\d{2})\s*", value)
    if not m:
        return ""
    y, mo, d = map(int, m.groups())
    if not 1 <= mo <= 12:
        return f"the month is {mo}: write YYYY-MM-DD with a month from 01 to 12"
    days = calendar.monthrange(y, mo)[1]
    if d > days or d < 1:
        return f"{calendar.month_name[mo]} {y} has {days} days: write a date that exists"
    return ""


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "tagged-union") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = AOIConfig
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            break
        ann = info.annotation  # Window | None, list[Site], Catalog: find the model inside
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                model = cand
                break
    return list(model.model_fields)
