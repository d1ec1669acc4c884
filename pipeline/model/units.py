"""Areas in words: the one place an area in m² becomes text ("12.34 ha", "1.20 km²")."""

from __future__ import annotations


def hectares(m2: float | None, *, grouped: bool = False, missing: str = "n/a") -> str:
    """An area in hectares with two decimals ("12.34 ha"; "1,234.56 ha" with `grouped`);
    `missing` when there is none."""
    if m2 is None:
        return missing
    return f"{m2 / 1e4:,.2f} ha" if grouped else f"{m2 / 1e4:.2f} ha"


def area(m2: float | None) -> str:
    """An area in people's units: hectares below 1 km², km² from there; m² below 0.01 ha."""
    if m2 is None or m2 != m2:
        return "–"
    if m2 >= 1e6:
        return f"{m2 / 1e6:,.2f} km²"
    if m2 >= 100:
        return hectares(m2, grouped=True)
    return f"{m2:,.0f} m²"
