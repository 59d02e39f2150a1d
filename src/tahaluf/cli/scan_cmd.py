"""``tahaluf scan`` and ``tahaluf lookup``: match content or signal values against the banks."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from tahaluf.cli.bank import get_store
from tahaluf.cli.hash_cmd import expand_paths
from tahaluf.cli.output import fail
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.reports import CsvReport, HtmlReport, JsonlAppender, write_jsonl_line
from tahaluf.services.hashing import HashOptions, InputItem, iter_inputs
from tahaluf.bootstrap import snapshot_dir_for
from tahaluf.services.matching import MatchEngine, MatchOptions
from tahaluf.services.parallel import default_jobs
from tahaluf.services.scanning import (
    DEFAULT_JOB,
    ScanResult,
    check_job_name,
    clear_job,
    job_results,
    list_jobs,
    lookup_values,
    scan,
)
from tahaluf.signal_types import registry

EXIT_SOME_FAILED = 3


class ReportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    html = "html"


#: the registered types whose values fit on a line (types register when tahaluf.signal_types is imported)
LookupType = Enum("LookupType", {name: name for name in registry.lookup_names()}, type=str)  # type: ignore[misc]


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
    """Writes results in the chosen format to stdout or --out.

    Without a job, --out is written afresh. With a job (--job or --resume),
    a JSONL --out is appended to (repaired first against the job's stored
    results, see :class:`JsonlAppender`); a CSV or HTML report covers the whole
    job, earlier results first, and replaces --out only once complete.
    """

    def __init__(self, fmt: ReportFormat, out: Optional[Path], store, job: Optional[str]) -> None:  # noqa: ANN001
        self.fmt, self.path, self.job = fmt, out, job
        self.failed = self.matched = self.total = self.earlier = 0
        self.appender: JsonlAppender | None = None
        self.partial: Optional[Path] = None
        if fmt is ReportFormat.jsonl and job and out:
            self.appender = JsonlAppender(out, job_results(store, job))
            self.stream: TextIO = sys.stdout
        elif out is None:
            self.stream = sys.stdout
        elif fmt is ReportFormat.jsonl:
            self.stream = open(out, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        else:  # a whole report: written beside --out, renamed over it when complete
            self.partial = out.with_name(out.name + ".partial")
            self.stream = open(self.partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self.csv = CsvReport(self.stream) if fmt is ReportFormat.csv else None
        self.html = HtmlReport(store) if fmt is ReportFormat.html else None
        if job and (self.csv or self.html):
            for r in job_results(store, job):  # read before this run stores anything
                self.earlier += 1
                (self.csv or self.html).add(r)  # type: ignore[union-attr]

    def add(self, r: ScanResult) -> None:
        self.total += 1
        self.failed += r.error is not None
        self.matched += bool(r.matches)
        if self.appender:
            self.appender.add(r)
        elif self.csv:
            self.csv.add(r)
        elif self.html:
            self.html.add(r)
        else:
            write_jsonl_line(self.stream, r)
            self.stream.flush()

    def close(self) -> None:
        """Finish the report (a CSV or HTML --out is replaced only now)."""
        if self.html:
            self.stream.write(self.html.render())
        self._close_files()
        if self.partial and self.path:
            os.replace(self.partial, self.path)

    def abort(self) -> None:
        """The scan stopped early: keep the previous --out of a whole report as it was."""
        self._close_files()
        if self.partial:
            self.partial.unlink(missing_ok=True)

    def _close_files(self) -> None:
        if self.appender:
            self.appender.close()
        if self.stream is not sys.stdout:
            self.stream.close()


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
    resume: Annotated[
        bool, typer.Option("--resume", help=f"Same as --job {DEFAULT_JOB}: skip inputs that job has scanned.")
    ] = False,
    job: Annotated[
        Optional[str],
        typer.Option("--job", help="Name of a resumable scan: skip inputs it has scanned (by sha256), "
                                   "keep results; --out is appended to (JSONL) or holds the whole job (CSV, HTML)."),
    ] = None,
    pdq_max_distance: Annotated[
        Optional[int], typer.Option("--pdq-max-distance", min=0, max=256, help="Override every bank's PDQ threshold.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Hash and match files, folders and JSONL posts against every enabled bank.

    One JSON object per input: {"input", "content_type", "matches": [...],
    "allowed", "actionable", "error"}. A match in an allow bank sets
    "allowed": true and "actionable": false. Exit 0, or 3 if an input failed.
    See `tahaluf scan-jobs` to list and clear jobs.
    """
    store = get_store(ctx)
    try:
        job_name = check_job_name(job) if job else (DEFAULT_JOB if resume else None)
        engine = _engine(store, quiet)
        items = list(iter_inputs(expand_paths(paths)))
        opts = HashOptions(trim_borders=True)
        mopts = MatchOptions(pdq_max_distance=pdq_max_distance)
        try:
            sink = _Sink(fmt, out, store, job_name)
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot write the report to {out}: {getattr(exc, 'strerror', None) or exc}") from exc
        try:
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
                              job=job_name, keep_text=fmt is ReportFormat.html, on_skip=on_skip):
                    sink.add(r)
                    if r.path is None or r.path != last_path:  # the posts of one JSONL file are one input
                        bar.advance(task)
                    last_path = r.path
        except BaseException:
            sink.abort()
            raise
        sink.close()
        summary = f"scanned {sink.total} inputs: {sink.matched} matched, {sink.failed} failed"
        if job_name:
            summary += f", {skipped} skipped (already scanned by job {job_name})"
            if sink.earlier:
                summary += f"; the report includes the job's {sink.earlier} earlier results"
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
        lines: Iterable[str]
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


jobs_app = typer.Typer(no_args_is_help=True, help="List and clear resumable scan jobs (scan --job NAME).")


@jobs_app.command("list")
def jobs_list(ctx: typer.Context) -> None:
    """Each job: its name, the inputs it has scanned, its first and last scan (UTC)."""
    store = get_store(ctx)
    try:
        for j in list_jobs(store):
            typer.echo(f"{j.name}\t{j.inputs}\t{j.first_at:%Y-%m-%d %H:%M:%S}\t{j.last_at:%Y-%m-%d %H:%M:%S}")
    except TahalufError as exc:
        fail(exc)
    finally:
        store.close()


@jobs_app.command("clear")
def jobs_clear(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The job to forget.")]) -> None:
    """Forget what a job has scanned: its next run scans every input again."""
    store = get_store(ctx)
    try:
        typer.echo(f"job {name}: forgot {clear_job(store, name)} scanned inputs", err=True)
    except TahalufError as exc:
        fail(exc)
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)
    app.command("lookup")(lookup_command)
    app.add_typer(jobs_app, name="scan-jobs")
