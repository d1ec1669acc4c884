"""The allocator setting the CLI applies: a freed big array's memory serves the next one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline import allocator

PROBE = """
import json, resource, sys
import numpy as np
from pipeline import allocator
took = allocator.keep_freed_arrays() if sys.argv[1] == "on" else None
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones((2000, 4000), np.float64)  # 64 MB, as a 4000² float32 band pair
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del a
print(json.dumps({"took": took, "faults": faults}))
"""


def _probe(mode: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="the setting is glibc's; other C libraries keep their own",
)
def test_freed_big_arrays_are_reused_without_new_page_faults():
    off, on = _probe("off"), _probe("on")
    # glibc's default maps every 64 MB block afresh: each one faults its pages in again (fewer
    # faults than 4 KB pages where the kernel gives huge pages, but as many each time)
    assert off["faults"][0] > 0
    assert min(off["faults"][1:]) > 0.5 * off["faults"][0]
    assert on["took"] is True
    # with the setting, the first block faults once and the next ones reuse it
    assert on["faults"][0] > 0.5 * off["faults"][0]
    assert max(on["faults"][1:]) < 0.05 * on["faults"][0]


def test_a_users_own_glibc_setting_is_left_alone():
    got = _probe("on", {"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert got["took"] is False
    assert allocator.USER_SETTINGS == ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
