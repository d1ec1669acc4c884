"""Leftovers made the way the tool makes them: a real process writing outputs, killed (os._exit)
at a chosen moment, so sweep tests exercise what a killed run really leaves, never a hand-made
imitation (a folder merely named like a temporary is a user's folder, and must survive)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_KILLED = """
import os, pathlib, sys
from pipeline.write import outdir
what, target = sys.argv[1], pathlib.Path(sys.argv[2])
outdir.sweep = lambda *a, **k: 0  # stage several killed runs' leftovers side by side
if what == "committed":  # killed after the commit marker, with the first file moved in
    real = pathlib.Path.replace
    def replace(self, to):
        real(self, to)
        if self.parent.name.startswith(".set.tmp-") and not self.name.startswith(".commit"):
            os._exit(9)
    pathlib.Path.replace = replace
    with outdir.file_set(target) as s:
        for name, text in zip(sys.argv[3::2], sys.argv[4::2]):
            (s / name).write_text(text)
elif what == "set":  # killed while writing a set of files into `target`
    with outdir.file_set(target) as s:
        (s / sys.argv[3]).write_text(sys.argv[4])
        os._exit(9)
elif what == "folder":  # killed while writing the output folder `target`
    with outdir.atomic_dir(target) as t:
        (t / "panel.png").write_bytes(b"half a panel")
        os._exit(9)
raise SystemExit("not killed")
"""


def killed(what: str, target: Path, *files: str) -> None:
    """Run a process that writes `what` ("committed", "set" or "folder") at `target` and is
    killed half-way; `files`: name, text, ... of the set."""
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, what, str(target), *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 9, done.stderr


@contextmanager
def live_staging(folder: Path) -> Iterator[Path]:
    """A staging folder of a process that is still running (writing) while the block runs."""
    code = (
        "import os, pathlib, sys\n"
        "from pipeline.write import outdir\n"
        "print(outdir.mkdtemp(f'.y.tmp-{os.getpid()}-', pathlib.Path(sys.argv[1])), flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with proc:
        assert proc.stdout is not None and proc.stdin is not None
        try:
            yield Path(proc.stdout.readline().strip())
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
