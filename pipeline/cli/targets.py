"""Which AOI a command is about (by name, path or --config), and which of its checks."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli.messages import warn
from pipeline.config.loading import load_checked
from pipeline.config.lookup import check_name, config_dirs
from pipeline.config.schema import AOIConfig
from pipeline.errors import ConfigError, InputError, Problem


def load(path: str | Path) -> AOIConfig:
    cfg, warnings = load_checked(path)
    warn(warnings)
    return cfg


def resolve(aoi: str | None, config: str | None) -> tuple[AOIConfig, Path]:
    if aoi and config:  # which one was meant? (`run demo --config rostov.yaml` ran rostov)
        raise InputError(
            Problem(
                "command line",
                "AOI and --config",
                "both given; a command checks one AOI",
                value=f"{aoi} --config {config}",
                fix=f"give the AOI name ({aoi}) or --config {config}, not both",
            )
        )
    if config:
        return load(config), Path(config)
    if aoi and aoi.endswith((".yaml", ".yml")) and Path(aoi).is_file():
        return load(aoi), Path(aoi)  # `pipeline run configs/demo.yaml`: a path is fine too
    if not aoi:
        raise ConfigError(
            Problem(
                "command line",
                "AOI",
                "no AOI given",
                fix="pass an AOI name, e.g. `pipeline run demo`",
            )
        )
    path = check_name(aoi, config_dirs())
    return load(path), path


def selection(cfg: AOIConfig, path: Path, claims: list[str], sites: list[str]) -> list[Path]:
    """The <site>/<claim> folders a run with these --claim/--site filters writes; refuses
    unknown ids (listing the valid ones) and filters that leave nothing, before any work."""
    for flag, given, valid in (
        ("--claim", claims, [c.id for c in cfg.claims]),
        ("--site", sites, [x.id for x in cfg.sites]),
    ):
        unknown = [g for g in given if g not in valid]
        if unknown:
            raise ConfigError(
                Problem(
                    str(path),
                    flag,
                    f"no such {flag[2:]} in {cfg.aoi}",
                    value=" ".join(unknown),
                    fix=f"use one of: {', '.join(valid)}",
                )
            )
    todo = [
        Path(site.id) / claim.id
        for claim in cfg.claims
        if not claims or claim.id in claims
        for site in cfg.sites_for(claim)
        if not sites or site.id in sites
    ]
    if not todo:
        concern = "; ".join(
            f"{c.id}: {', '.join(x.id for x in cfg.sites_for(c))}"
            for c in cfg.claims
            if not claims or c.id in claims
        )
        raise ConfigError(
            Problem(
                str(path),
                "--claim/--site",
                "no selected claim concerns a selected site",
                value=" ".join([*(f"--claim {c}" for c in claims), *(f"--site {x}" for x in sites)])
                or None,
                fix=f"the sites of each claim: {concern}",
            )
        )
    return todo
