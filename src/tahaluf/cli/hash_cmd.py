"""``tahaluf hash``: print the signals of files, folders, texts and URLs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Optional

import typer

from tahaluf.cli.output import fail, print_json_line
from tahaluf.errors import InvalidInput
from tahaluf.services.hashing import (
    HashOptions,
    HashResult,
    InputItem,
    iter_inputs,
    ready_results,
    safe_hash,
)
from tahaluf.services.parallel import default_jobs, run_ordered
from tahaluf.signals.video import format_vpdq

#: exit status when one or more inputs could not be hashed
EXIT_SOME_FAILED = 3
_DEFAULTS = HashOptions()


class HashFormat(str, Enum):
    json = "json"
    vpdq = "vpdq"


def _read_stdin_paths() -> Iterator[str]:
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        if line:
            yield line


def expand_paths(paths: list[str]) -> Iterator[str]:
    """The given paths, with '-' replaced by the paths read from stdin."""
    for p in paths:
        if p == "-":
            yield from _read_stdin_paths()
        else:
            yield p


def hash_command(
    paths: Annotated[
        Optional[list[str]],
        typer.Argument(help="Files or folders to hash; '-' reads paths from stdin, one a line."),
    ] = None,
    text: Annotated[
        Optional[list[str]], typer.Option("--text", "-t", help="Hash this text (repeatable).")
    ] = None,
    url: Annotated[
        Optional[list[str]], typer.Option("--url", "-u", help="Hash this URL (repeatable).")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Worker processes (0: every core).")
    ] = 0,
    fmt: Annotated[
        HashFormat,
        typer.Option("--format", "-f", help="json: one JSON object per input; vpdq: reference vPDQ text."),
    ] = HashFormat.json,
    fps: Annotated[
        Optional[float],
        typer.Option("--fps", min=0.001, help="Sample videos at this many frames per second."),
    ] = None,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", min=1, help="Refuse photos with more pixels than this.")
    ] = _DEFAULTS.max_pixels,
    exact_pdq: Annotated[
        bool,
        typer.Option("--exact-pdq", help="Hash photos at full size (slower; bit-identical to python-threatexchange)."),
    ] = False,
    max_text_chars: Annotated[
        int, typer.Option("--max-text-chars", min=1, help="Refuse texts longer than this.")
    ] = _DEFAULTS.max_text_chars,
    video_timeout_s: Annotated[
        float, typer.Option("--video-timeout", min=0.001, help="Seconds allowed per video.")
    ] = _DEFAULTS.video_timeout_s,
    pdf_timeout_s: Annotated[
        float, typer.Option("--pdf-timeout", min=0.001, help="Seconds allowed per PDF.")
    ] = _DEFAULTS.pdf_timeout_s,
    pdf_max_operators: Annotated[
        int, typer.Option("--pdf-max-operators", min=1, help="Content operators read per PDF, all pages together.")
    ] = _DEFAULTS.pdf_max_operators,
) -> None:
    """Print the signals (md5, sha256, pdq, vpdq, text, url) of each input.

    One JSON object per input on stdout:
    {"path", "content_type", "signals": [{"type", "value", ...}], "error"}.
    Exit status 0 when every input was hashed, 3 when one or more failed.
    """
    if not paths and not text and not url:
        fail(InvalidInput("nothing to hash: give paths, '-', --text or --url"))
    opts = HashOptions(
        max_pixels=max_pixels,
        pdq_min_side=None if exact_pdq else _DEFAULTS.pdq_min_side,
        max_text_chars=max_text_chars,
        video_fps=fps,
        video_timeout_s=video_timeout_s,
        pdf_timeout_s=pdf_timeout_s,
        pdf_max_operators=pdf_max_operators,
    )
    items = _all_items(paths or [], text or [], url or [])
    work = ((it, opts) if isinstance(it, InputItem) else it for it in items)
    n_jobs = jobs or default_jobs()
    failed = 0
    for results in run_ordered(safe_hash, work, jobs=n_jobs, passthrough=ready_results):
        for res in results:
            failed += not _emit(res, fmt)
    raise typer.Exit(EXIT_SOME_FAILED if failed else 0)


def _all_items(
    paths: list[str], texts: list[str], urls: list[str]
) -> Iterator[InputItem | HashResult]:
    for t in texts:
        yield InputItem("text", t)
    for u in urls:
        yield InputItem("url", u)
    yield from iter_inputs(expand_paths(paths))


def _emit(res: HashResult, fmt: HashFormat) -> bool:
    """Print one result; return whether it was hashed."""
    if fmt is HashFormat.json:
        print_json_line(res.to_json())
        return res.ok
    if res.ok and res.frames is not None:
        sys.stdout.write(format_vpdq(res.frames))
    elif res.ok:
        res.fail(InvalidInput(f"not a video ({res.content_type}): --format vpdq needs videos"))
    if not res.ok:
        sys.stderr.write(f"error: {res.path or res.id or ''}: {res.error}\n")
    return res.ok


def register(app: typer.Typer) -> None:
    app.command("hash")(hash_command)
