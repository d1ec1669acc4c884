"""An AOI config written by the tool (`pipeline scan-sites`): YAML with a header line, checked as
`pipeline validate` will check it before it is written, and never written over an existing file
(staged beside it, then hard-linked into place)."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.config.loading import load_checked
from pipeline.errors import ConfigError, InputError, Problem
from pipeline.write import outdir


def write_config(out: Path, cfg: dict[str, Any]) -> None:
    """Write `cfg` as YAML into `out`; ConfigError (named as `out`) if the config would be
    refused, InputError if `out` appeared meanwhile. The folders made for it are taken back
    when nothing was written."""
    text = "# Written by `pipeline scan-sites`; edit freely.\n" + yaml.safe_dump(
        cfg, sort_keys=False, allow_unicode=True
    )
    made = [d for d in (out.parent, *out.parent.parents) if not d.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = outdir.mkdtemp(f".{out.name}.tmp-{os.getpid()}-", out.parent)
    tmp = stage / out.name
    written = False
    try:
        tmp.write_text(text, "utf-8")
        load_checked(tmp)  # as `pipeline validate` will: refuse to write what it would refuse
        os.link(tmp, out)  # fails if `out` appeared meanwhile: never overwrites
        written = True
    except ConfigError as exc:  # named as the file it would have been, not the staged copy
        raise ConfigError(
            [replace(p, file=p.file.replace(str(tmp), str(out))) for p in exc.problems]
        ) from None
    except FileExistsError:
        raise InputError(
            Problem(
                str(out), "--out", "exists; it is never overwritten", None, "choose a new file name"
            )
        ) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not written:
            for d in made:  # the folders made for it, innermost first
                with contextlib.suppress(OSError):
                    d.rmdir()
