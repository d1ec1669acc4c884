"""Deliver one watch alert: run a command (argv, no shell, JSON on stdin) and/or POST the JSON.

Returns None when every configured channel took the alert, else one line saying what failed.
Delivery is at least once: a run killed between delivering and recording it delivers it again
next time, so the payload carries an `id` (aoi/site/scene) that a receiver can deduplicate on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from typing import TYPE_CHECKING

from pipeline.config.schema import Alert
from pipeline.lazy import LazyModule
from pipeline.net.http import retrying_session

if TYPE_CHECKING:
    import requests
else:  # loaded at first use: the CLI starts without it
    requests = LazyModule("requests")


def run_command(argv: list[str], payload: str, timeout_s: float) -> str | None:
    """Run `argv` with the payload on stdin and the key fields in WATCH_* variables."""
    data = json.loads(payload)
    env = dict(os.environ)
    env.update(
        WATCH_ALERT_ID=str(data.get("id", "")),
        WATCH_AOI=str(data.get("aoi", "")),
        WATCH_SITE=str(data.get("site", "")),
        WATCH_SCENE=str(data.get("scene_id", "")),
        WATCH_EVENT=str(data.get("event", "")),
        WATCH_DATE=str(data.get("date", "")),
        WATCH_APPEARED_M2=str(data.get("appeared_m2", "")),
        WATCH_DISAPPEARED_M2=str(data.get("disappeared_m2", "")),
    )
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # its own process group: a timeout ends all it started
        )
    except FileNotFoundError:
        return f"alert command not found: {argv[0]}"
    except PermissionError:
        return f"alert command not executable: {argv[0]}"
    try:
        _out, err = proc.communicate(payload, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return f"alert command timed out after {timeout_s:g} s: {argv[0]}"
    except BaseException:  # interrupted (SIGTERM, Ctrl-C): leave nothing of it running
        _kill_group(proc)
        raise
    done = subprocess.CompletedProcess(argv, proc.returncode, None, err)
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] or [""]
        return f"alert command exited {done.returncode}: {argv[0]} {tail[0][:200]}".rstrip()
    return None


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the command and whatever it started (a script's `sleep`, a hung `curl`), so that
    no pipe stays open and nothing outlives the run; then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
    proc.communicate()


def post(url: str, payload: str, timeout_s: float, retries: int) -> str | None:
    """POST the payload through the one HTTP layer (`pipeline.net.http`): connection errors,
    429 and 5xx are retried `retries` times with backoff (Retry-After honoured, capped); other
    answers are final. Returns what went wrong, or None."""
    try:
        with retrying_session(retries) as session:
            r = session.post(
                url,
                data=payload.encode(),
                headers={"Content-Type": "application/json"},
                timeout=timeout_s,
            )
    except requests.RequestException as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return f"POST {url} failed after {retries + 1} attempt(s): {reason}"
    if r.status_code < 300:
        return None
    return f"POST {url} failed: HTTP {r.status_code}"


def deliver(alert: Alert, payload: str) -> str | None:
    problems = []
    if alert.command:
        p = run_command(list(alert.command), payload, alert.timeout_s)
        if p:
            problems.append(p)
    if alert.url:
        p = post(alert.url, payload, alert.timeout_s, alert.retries)
        if p:
            problems.append(p)
    return "; ".join(problems) or None
