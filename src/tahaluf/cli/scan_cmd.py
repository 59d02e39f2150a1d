"""``tahaluf scan`` and ``tahaluf lookup``: match content or signal values against the banks."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tahaluf.cli.bank import get_store
from tahaluf.cli.hash_cmd import expand_paths
from tahaluf.cli.output import fail
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.reports import CsvReport, HtmlReport, write_jsonl_line
from tahaluf.services.hashing import HashOptions, InputItem, iter_inputs
from tahaluf.services.matching import MatchEngine, MatchOptions, snapshot_dir_for
from tahaluf.services.parallel import default_jobs
from tahaluf.services.scanning import ScanResult, lookup_values, scan

EXIT_SOME_FAILED = 3


class ReportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    html = "html"


class LookupType(str, Enum):
    pdq = "pdq"
    md5 = "md5"
    sha256 = "sha256"
    url = "url"
    text = "text"


def _engine(store, quiet: bool = True) -> MatchEngine:  # noqa: ANN001
    """Load the indexes (from the PDQ snapshot when it is current) and refresh the snapshot."""
    folder = snapshot_dir_for(store.url)
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        engine = MatchEngine(store).load(snapshot_dir=folder)
    else:
        with console.status("loading bank indexes…"):
            engine = MatchEngine(store).load(snapshot_dir=folder)
    engine.save_snapshot_if_stale(folder)
    return engine


class _Sink:
    """Writes results in the chosen format to stdout or --out."""

    def __init__(self, fmt: ReportFormat, out: TextIO, store) -> None:  # noqa: ANN001
        self.fmt, self.out = fmt, out
        self.csv = CsvReport(out) if fmt is ReportFormat.csv else None
        self.html = HtmlReport(store) if fmt is ReportFormat.html else None
        self.failed = self.matched = self.total = 0

    def add(self, r: ScanResult) -> None:
        self.total += 1
        self.failed += r.error is not None
        self.matched += bool(r.matches)
        if self.csv:
            self.csv.add(r)
        elif self.html:
            self.html.add(r)
        else:
            write_jsonl_line(self.out, r)
            self.out.flush()

    def close(self) -> None:
        if self.html:
            self.out.write(self.html.render())


def _progress(enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=Console(stderr=True), transient=True, disable=not enabled,
    )


def scan_command(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files, folders or JSONL posts; '-' reads paths from stdin.")],
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=0, help="Hashing processes (0: every core).")] = 0,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="jsonl, csv or html.")] = ReportFormat.jsonl,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the report here (default: stdout).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip inputs already scanned (by sha256).")] = False,
    pdq_max_distance: Annotated[
        Optional[int], typer.Option("--pdq-max-distance", min=0, max=256, help="Override every bank's PDQ threshold.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Hash and match files, folders and JSONL posts against every enabled bank.

    One JSON object per input: {"input", "content_type", "matches": [...],
    "allowed", "actionable", "error"}. A match in an allow bank sets
    "allowed": true and "actionable": false. Exit 0, or 3 if an input failed.
    """
    store = get_store(ctx)
    try:
        engine = _engine(store, quiet)
        items = list(iter_inputs(expand_paths(paths)))
        opts = HashOptions(trim_borders=True)
        mopts = MatchOptions(pdq_max_distance=pdq_max_distance)
        with ExitStack() as stack:
            stream = stack.enter_context(open(out, "w", encoding="utf-8", newline="")) if out else sys.stdout
            sink = _Sink(fmt, stream, store)
            show = not quiet and (out is not None or fmt is not ReportFormat.jsonl or not sys.stdout.isatty())
            with _progress(show and Console(stderr=True).is_terminal) as bar:
                task = bar.add_task("scanning", total=len(items))
                skipped = 0

                def on_skip(_: InputItem) -> None:
                    nonlocal skipped
                    skipped += 1
                    bar.advance(task)

                last_path: str | None = None
                for r in scan(items, engine, hash_opts=opts, match_opts=mopts, jobs=jobs or default_jobs(),
                              resume=resume, keep_text=fmt is ReportFormat.html, on_skip=on_skip):
                    sink.add(r)
                    if r.path is None or r.path != last_path:  # the posts of one JSONL file are one input
                        bar.advance(task)
                    last_path = r.path
            sink.close()
        summary = f"scanned {sink.total} inputs: {sink.matched} matched, {sink.failed} failed"
        if resume:
            summary += f", {skipped} skipped (already scanned)"
        if not quiet:
            typer.echo(summary, err=True)
        raise typer.Exit(EXIT_SOME_FAILED if sink.failed else 0)
    except TahalufError as exc:
        fail(exc)
    finally:
        store.close()


def lookup_command(
    ctx: typer.Context,
    signal_type: Annotated[LookupType, typer.Option("--type", "-t", help="Signal type of the values.")],
    source: Annotated[str, typer.Argument(help="File with one value a line, or '-' for stdin.")] = "-",
    pdq_max_distance: Annotated[
        Optional[int], typer.Option("--pdq-max-distance", min=0, max=256, help="Override every bank's PDQ threshold.")
    ] = None,
) -> None:
    """Match signal values (one a line): hashes, URLs, or post texts for --type text."""
    store = get_store(ctx)
    try:
        engine = _engine(store)
        if source == "-":
            lines = (line.rstrip("\r\n") for line in sys.stdin)
        else:
            try:
                lines = Path(source).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"cannot read {source}: {exc}") from exc
        failed = 0
        for r in lookup_values(signal_type.value, lines, engine, MatchOptions(pdq_max_distance=pdq_max_distance)):
            failed += r.error is not None
            write_jsonl_line(sys.stdout, r)
        raise typer.Exit(EXIT_SOME_FAILED if failed else 0)
    except TahalufError as exc:
        fail(exc)
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)
    app.command("lookup")(lookup_command)
