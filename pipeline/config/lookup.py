"""Where configs are found: an AOI name is `<name>.yaml` in ./configs, else in the configs/ beside
the checkout the package runs from; what a path that is not a config file is."""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import ConfigError, Problem

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _config_files(dirs: Sequence[Path]) -> list[str]:
    """AOI names of the config files that exist in `dirs` (regular files, links to one
    included)."""
    return sorted({p.stem for d in dirs for p in d.glob("*.yaml") if p.is_file()})


def _looked_in(dirs: Sequence[Path]) -> str:
    """Where AOI names were looked for, each folder with what was wrong with it."""
    return ", ".join(
        f"{d}/"
        + ("" if d.is_dir() else " (no such folder)" if not d.exists() else " (not a folder)")
        for d in dirs
    )


def check_name(name: str, dirs: Path | Sequence[Path]) -> Path:
    """Turn an AOI name into its config path: `<dir>/<name>.yaml` in the first of `dirs` that
    has it; refuses paths and unknown names, saying where it looked."""
    dirs = [dirs] if isinstance(dirs, Path) else list(dirs)
    available = _config_files(dirs)
    elsewhere = (
        "for a config elsewhere give its path with --config path/to/file.yaml "
        "(or as the AOI: pipeline run path/to/file.yaml)"
    )
    if not NAME_RE.match(name):
        raise ConfigError(
            Problem(
                file=str(dirs[0]),
                field="AOI",
                problem="an AOI name is a plain name, not a path or file name",
                value=name,
                fix=f"use one of: {', '.join(available) or '(none yet)'}; {elsewhere}",
            )
        )
    for d in dirs:
        path = d / f"{name}.yaml"
        if path.is_file():
            return path
        if path.exists() or path.is_symlink():
            raise ConfigError(
                Problem(
                    file=str(path),
                    field="AOI",
                    problem=f"{not_a_file(path)}, not a config file",
                    value=name,
                    fix=f"replace {path} with the AOI's YAML file; "
                    f"configs that exist: {', '.join(available) or '(none)'}",
                )
            )
    close = difflib.get_close_matches(name, available, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    home = next((d for d in dirs if d.is_dir()), None)
    add = f"; to add one, copy a config (e.g. demo.yaml) to {home / name}.yaml" if home else ""
    raise ConfigError(
        Problem(
            file=f"{name}.yaml",
            field="AOI",
            problem=f"no such AOI: looked for {name}.yaml in {_looked_in(dirs)}",
            value=name,
            fix=f"{hint}configs that exist: {', '.join(available) or '(none)'}; {elsewhere}" + add,
        )
    )


def not_a_file(path: Path) -> str:
    """What `path` is when it is not a readable regular file."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "it is a symbolic link loop"
        if path.is_symlink():
            return f"it is a broken symbolic link (to {path.readlink()})"
        return "it does not exist"
    if path.is_dir():
        return "it is a folder"
    return "it is not a regular file"


def config_dirs() -> list[Path]:
    """Where AOI names are looked up, in order: ./configs, then the configs/ beside the checkout
    the package runs from (an editable install: `pipeline run demo` works from any folder)."""
    here = Path.cwd() / "configs"
    checkout = Path(__file__).resolve().parents[2] / "configs"
    return [here] if checkout == here.resolve() else [here, checkout]


def configs_dir() -> Path:
    """The first folder of `config_dirs()` that exists (./configs when none does)."""
    dirs = config_dirs()
    return next((d for d in dirs if d.is_dir()), dirs[0])
