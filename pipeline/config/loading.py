"""Reading one config file: refused early when it is missing, huge or binary; parsed with its
line numbers; validated; the aoi name checked against the file name and a static catalogue's path
resolved against the file's folder. Where an AOI *name* is found is pipeline.config.lookup."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from pipeline.config.catalog import Catalog
from pipeline.config.diagnostics import swapped_sites, to_problem
from pipeline.config.footprints import attach_to_sites
from pipeline.config.lookup import not_a_file
from pipeline.config.schema import AOIConfig
from pipeline.config.yamlload import DuplicateKey, TooBig, line_of, parse
from pipeline.errors import ConfigError, Problem

MAX_CONFIG_BYTES = 1_000_000
"""A config is a few kB (the largest shipped one is 16 kB); a bigger file is a mistake (a
GeoTIFF or a log given as a config) and is refused before it is parsed."""


_BINARY = (
    (b"II*\0", "a TIFF image"),
    (b"MM\0*", "a TIFF image"),
    (b"\x89PNG", "a PNG image"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x7fELF", "a program"),
)
"""What a binary file given as a config is, by its first bytes."""


def load(path: str | Path) -> AOIConfig:
    """Read and validate one config file; raise ConfigError listing every problem found."""
    return load_checked(path)[0]


def load_checked(path: str | Path) -> tuple[AOIConfig, list[Problem]]:
    """Read and validate one config file: the config and the warnings about it (sites that
    look like swapped lat/lon). Raise ConfigError listing every problem found."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        what = not_a_file(path)
        if what == "it does not exist":
            raise ConfigError(
                Problem(shown, "", "file not found", fix="check the path; configs live in configs/")
            )
        raise ConfigError(
            Problem(
                shown,
                "",
                f"cannot read it as a config: {what}",
                fix="give the path of a .yaml file (e.g. configs/demo.yaml)",
            )
        )
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                Problem(
                    shown,
                    "",
                    f"the file is {size / 1e6:.1f} MB; a config is a few kB (at most "
                    f"{MAX_CONFIG_BYTES / 1e6:g} MB)",
                    fix="give the AOI's YAML config (start from configs/demo.yaml)",
                )
            )
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:  # a GeoTIFF, a PNG, a zip given where the YAML goes
            kind = next((k for m, k in _BINARY if raw.startswith(m)), "binary data")
            raise ConfigError(
                Problem(
                    shown,
                    "",
                    f"this is not a YAML text file but {kind}",
                    fix="give the AOI's YAML config (start from configs/demo.yaml)",
                )
            )
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            Problem(shown, "", f"cannot read the file: {exc}", fix="save it as UTF-8 text")
        ) from None
    try:
        node, data = parse(text)
    except DuplicateKey as exc:
        raise ConfigError(
            Problem(
                shown,
                exc.field,
                f"appears twice (lines {exc.first} and {exc.second}); YAML would silently keep "
                "only the second",
                line=exc.second,
                fix="keep one of them",
            )
        ) from None
    except TooBig as exc:
        raise ConfigError(Problem(shown, "", str(exc), line=exc.line, fix=exc.fix)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            Problem(
                shown,
                "",
                f"YAML syntax error: {what}",
                line=mark.line + 1 if mark else None,
                fix="check indentation, colons and quotes on that line and the one before",
            )
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            Problem(
                shown,
                "",
                "the file must be a YAML mapping (aoi:, title:, sites:, claims:)",
                value=type(data).__name__ if data is not None else "empty file",
                fix="start from configs/demo.yaml",
            )
        )
    attach_to_sites(data, path, line_of(node, ("footprints",)))
    try:
        cfg = AOIConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([to_problem(shown, node, e) for e in exc.errors()]) from None
    if cfg.aoi != path.stem:
        raise ConfigError(
            Problem(
                shown,
                "aoi",
                f"the aoi name must match the file name ({path.stem})",
                value=cfg.aoi,
                line=line_of(node, ("aoi",)),
                fix=f"set aoi: {path.stem}, or rename the file to {cfg.aoi}.yaml",
            )
        )
    if cfg.catalog.kind == "static" and not cfg.catalog.url.startswith(("http://", "https://")):
        local = (path.parent / cfg.catalog.url).resolve()
        if not local.is_file():
            raise ConfigError(
                Problem(
                    shown,
                    "catalog.url",
                    "static catalogue not found (paths are relative to the config file)",
                    value=cfg.catalog.url,
                    line=line_of(node, ("catalog", "url")),
                    fix=f"point it at a catalog.json; it resolved to {local}",
                )
            )
        cfg = cfg.model_copy(update={"catalog": Catalog(kind="static", url=local.as_uri())})
    return cfg, swapped_sites(cfg, shown, node)
