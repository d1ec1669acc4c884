"""Exit codes: the one place a code is chosen, for a result and for an error, and their --help.

0 the checks ran; 1 a verdict named by --fail-on came out (or an unexpected failure, a bug, with
a traceback); 2 bad input; 3 data unavailable (a catalogue down, or a window with no usable
imagery); 130 interrupted. `watch` adds 69 (an alert could not be delivered) and 75 (another
watch run holds the lock). Pure standard library and `pipeline.errors`: the signal handlers set
before anything heavy is imported use it too.
"""

from __future__ import annotations

from enum import IntEnum

from pipeline.errors import DataUnavailable, InputError, LockHeld, PipelineError


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    """A --fail-on verdict came out, `cache verify` found bad entries, or a bug (a traceback)."""
    BAD_INPUT = 2
    """Bad config, arguments or files: nothing was done."""
    UNAVAILABLE = 3
    """Catalogue unreachable, imagery not to be had, no space left."""
    ALERT_UNDELIVERED = 69
    """EX_UNAVAILABLE: an alert could not be delivered (retried next run)."""
    LOCKED = 75
    """EX_TEMPFAIL: another run holds the lock; try again later."""
    INTERRUPTED = 130
    """128 + SIGINT: interrupted by Ctrl-C or SIGTERM."""
    BROKEN_PIPE = 141
    """128 + SIGPIPE: the reader of the output went away (`pipeline scenes rostov | head`), as
    the shell reports a program that SIGPIPE ended."""


EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (InputError, ExitCode.BAD_INPUT),
    (LockHeld, ExitCode.LOCKED),
    (DataUnavailable, ExitCode.UNAVAILABLE),
    (PipelineError, ExitCode.FAILED),
)
"""The one place an error becomes an exit code, by its kind (the first that matches)."""


def exit_code(exc: BaseException) -> ExitCode:
    """The exit code of an error, by its kind (EXIT_CODES)."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), ExitCode.FAILED)


_E = ExitCode
_DESCRIBED = {  # the commands whose description is their exit codes
    "watch": f"Exit codes: {_E.OK} done (also when nothing was new), {_E.BAD_INPUT} bad input, "
    f"{_E.UNAVAILABLE} catalogue or imagery unavailable, {_E.ALERT_UNDELIVERED} an alert could "
    f"not be delivered (retried next run), {_E.LOCKED} another watch run holds the lock, "
    f"{_E.INTERRUPTED} interrupted.",
    "cache": f"Exit codes: {_E.OK} done, {_E.FAILED} verify found (and removed) bad entries, "
    f"{_E.BAD_INPUT} bad input.",
    "scan": f"Exit codes: {_E.OK} done, {_E.BAD_INPUT} bad input (nothing written), "
    f"{_E.UNAVAILABLE} some tiles failed (run again to retry them), no tile had imagery, the "
    "--scheduler does not answer, or no space left under --out (the tiles written are kept), "
    f"{_E.LOCKED} another scan is writing the same --out, {_E.INTERRUPTED} interrupted (run "
    "again to resume).",
}
_DONE = {  # the others': their epilog
    "run": f"{_E.OK} the checks ran, {_E.FAILED} a --fail-on verdict came out (or a bug), "
    f"{_E.BAD_INPUT} bad input (nothing was done), {_E.UNAVAILABLE} data unavailable "
    "(catalogue unreachable, a window without usable imagery, or no space left under --out), "
    f"{_E.LOCKED} another run of the AOI is writing --out",
    "validate": f"{_E.OK} every file is valid, {_E.BAD_INPUT} bad input: a file has problems "
    "(each listed)",
    "scenes": f"{_E.OK} listed, {_E.BAD_INPUT} bad input, {_E.UNAVAILABLE} catalogue unreachable",
    "compare": f"{_E.OK} compared, {_E.BAD_INPUT} bad input (nothing was written), "
    f"{_E.UNAVAILABLE} data unavailable",
    "scan-sites": f"{_E.OK} the config was written, {_E.BAD_INPUT} bad input (nothing was written)",
    "timeline": f"{_E.OK} the timelines were written, {_E.BAD_INPUT} bad input (nothing was "
    f"written), {_E.UNAVAILABLE} no imagery over a footprint (the others' timelines were "
    "written; with --footprints: a window failed, run again to retry it), "
    f"{_E.LOCKED} another --footprints run is writing --out",
}


def exit_description(command: str) -> str:
    """A command's description that lists its exit codes (watch, cache, scan)."""
    return _DESCRIBED[command]


def exit_help(command: str = "") -> str:
    """The exit codes of `command` (of the program, without one), for --help."""
    end = f", {_E.INTERRUPTED} interrupted (Ctrl-C or SIGTERM)."
    if command in _DONE:
        return f"Exit codes: {_DONE[command]}{end}"
    return (
        f"Exit codes: {_E.OK} done, {_E.FAILED} a --fail-on verdict (or a bug), {_E.BAD_INPUT} "
        f"bad input, {_E.UNAVAILABLE} data unavailable{end} `pipeline COMMAND --help` lists "
        "each command's."
    )
