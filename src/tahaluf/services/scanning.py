"""Scan content: hash inputs on every core, match them in this process, report.

Hashing runs in worker processes (:func:`tahaluf.services.parallel.run_ordered`);
matching runs here against one :class:`MatchEngine`, so the indexes are held
once. Each input yields a :class:`ScanResult` in input order.

With ``job=NAME`` (``tahaluf scan --job NAME``; ``--resume`` is the job
``default``) an input whose sha256 the job has already scanned is skipped,
and every finished input's results are stored in the job *before* they are
yielded, so an interrupted scan loses nothing and a report of the whole job
can be written again from storage (:func:`job_results`). Jobs are listed with
:func:`list_jobs` and forgotten with :func:`clear_job`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tahaluf.banks import validate_signal
from tahaluf.errors import InvalidInput, NotFound, TahalufError
from tahaluf.ports.banks import Repository
from tahaluf.ports.scanlog import ScanJobRecord
from tahaluf.services.hashing import (
    HashOptions,
    HashResult,
    InputItem,
    ready_results,
    safe_hash,
)
from tahaluf.services.matching import Match, MatchEngine, MatchOptions
from tahaluf.services.parallel import run_ordered
from tahaluf.signal_types import registry
from tahaluf.signals.base import Signal

__all__ = [
    "ScanResult", "scan", "lookup_values", "lookup_signal", "input_sha256",
    "DEFAULT_JOB", "job_results", "list_jobs", "clear_job", "check_job_name",
]

#: the job of ``tahaluf scan --resume`` without ``--job``
DEFAULT_JOB = "default"
#: characters of an input's text kept with its stored result (for the HTML report)
STORED_TEXT_CHARS = 20_000
_JOB_NAME = re.compile(r"[\w][\w.:@-]{0,127}")


@dataclass(slots=True)
class ScanResult:
    """The matches of one input (a file, a JSONL post, a text, a signal value)."""

    input: str
    content_type: str | None
    matches: list[Match] = field(default_factory=list)
    error: str | None = None
    sha256: str | None = None
    path: str | None = None
    #: the text that was matched (for the HTML report's highlighting)
    text: str | None = None
    signals: list[Signal] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """True when an allow bank matched at least as strongly as any known bank.

        The input is then treated as the allowed material (e.g. the news
        report itself) and must not be actioned. A fragment of a known
        statement that a news report happens to quote is *not* allowed: it
        matches the known item more strongly (higher Jaccard) than the report.
        Ties go to the allow bank: humans decide.
        """
        allow = max((m.score for m in self.matches if m.bank_kind == "allow"), default=None)
        if allow is None:
            return False
        known = max((m.score for m in self.matches if m.bank_kind == "known"), default=0.0)
        return allow >= known

    @property
    def actionable(self) -> bool:
        return not self.allowed and any(m.bank_kind == "known" for m in self.matches)

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "content_type": self.content_type,
            "matches": [m.to_json() for m in self.matches],
            "allowed": self.allowed,
            "actionable": self.actionable,
            "error": self.error,
        }

    def to_stored(self) -> dict[str, Any]:
        """:meth:`to_json` plus what a report needs later: path, sha256, and for a
        matched input its text and photo/video signals."""
        out = {**self.to_json(), "path": self.path, "sha256": self.sha256}
        if self.matches:
            if self.text:
                out["text"] = self.text[:STORED_TEXT_CHARS]
            out["signals"] = [s.to_json() for s in self.signals if _kept_for_reports(s.type)]
        return out

    @classmethod
    def from_stored(cls, obj: dict[str, Any]) -> ScanResult:
        """The result :meth:`to_stored` kept (``allowed`` and ``actionable`` are recomputed)."""
        matches = [
            Match(m["bank"], m["bank_kind"], int(m["item_id"]), m["external_id"], m["signal_type"],
                  dict(m.get("labels") or {}), m.get("distance"), m.get("similarity"), dict(m.get("evidence") or {}))
            for m in obj.get("matches") or []
        ]
        signals = [Signal(s["type"], s["value"], {k: v for k, v in s.items() if k not in ("type", "value")})
                   for s in obj.get("signals") or []]
        return cls(obj["input"], obj.get("content_type"), matches=matches, error=obj.get("error"),
                   sha256=obj.get("sha256"), path=obj.get("path"), text=obj.get("text"), signals=signals)


def input_sha256(item: InputItem) -> str | None:
    """sha256 of an input's bytes (files) or UTF-8 text (inline posts)."""
    if item.kind != "file":
        return hashlib.sha256(item.value.encode("utf-8")).hexdigest()
    h = hashlib.sha256()
    try:
        with open(item.value, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _label_of(res: HashResult) -> str:
    if res.id is not None:
        return res.id
    if res.path is not None:
        return res.path
    return res.content_type or "input"


def scan(
    items: Iterable[InputItem | HashResult],
    engine: MatchEngine,
    *,
    hash_opts: HashOptions = HashOptions(),
    match_opts: MatchOptions = MatchOptions(),
    jobs: int = 1,
    job: str | None = None,
    keep_text: bool = False,
    on_skip: Callable[[InputItem], None] | None = None,
    match_batch: int = 64,
) -> Iterator[ScanResult]:
    """Hash and match every input; yields results in input order.

    Hashed inputs are matched ``match_batch`` at a time (one index call per
    signal type for the whole batch), so results arrive in small bursts.
    With ``job``, inputs the job has scanned are skipped (``on_skip``) and the
    others are stored in the job before they are yielded.
    """
    repo = engine.repo
    if job is not None:
        check_job_name(job)

    def work() -> Iterator[tuple[InputItem, HashOptions] | HashResult]:
        for it in items:
            if isinstance(it, HashResult):
                yield it
                continue
            if job is not None:
                digest = input_sha256(it)
                if digest and repo.scanned(job, [digest]):
                    if on_skip:
                        on_skip(it)
                    continue
            yield (it, hash_opts)

    pending: list[list[HashResult]] = []
    for results in run_ordered(safe_hash, work(), jobs=jobs, passthrough=ready_results):
        pending.append(results)
        if sum(len(r) for r in pending) >= match_batch:
            yield from _flush(pending, engine, match_opts, keep_text, job)
            pending = []
    yield from _flush(pending, engine, match_opts, keep_text, job)


def _flush(
    pending: list[list[HashResult]], engine: MatchEngine, opts: MatchOptions, keep_text: bool, job: str | None
) -> Iterator[ScanResult]:
    """Match a batch of hashed inputs in one call per index, then record and yield them."""
    flat = [res for results in pending for res in results]
    try:
        matched = engine.match_many([res.signals for res in flat], opts)
        failure = None
    except TahalufError as exc:  # e.g. a bank signal that no longer parses
        matched, failure = [[] for _ in flat], exc.message
    keep = keep_text or job is not None
    outs = iter([_scan_result(res, m, keep, failure) for res, m in zip(flat, matched, strict=True)])
    for results in pending:
        finished = [next(outs) for _ in results]
        if job is not None:
            _record(engine.repo, job, results, finished)
            if not keep_text:
                for r in finished:
                    r.text = None
        yield from finished


def _scan_result(res: HashResult, matches: list[Match], keep_text: bool, failure: str | None) -> ScanResult:
    sha = next((s.value for s in res.signals if s.type == "sha256"), None)
    out = ScanResult(_label_of(res), res.content_type, matches=matches, error=res.error or failure,
                     sha256=sha, path=res.path, signals=res.signals)
    if keep_text:
        out.text = res.text
    return out


def _record(repo: Repository, job: str, results: list[HashResult], finished: list[ScanResult]) -> None:
    """Store an input's results in ``job`` (an input: a file, or one inline post).

    An input whose every result failed is not stored, so the next run tries
    it again (a file that was unreadable or too slow this time); a JSONL file
    with a few bad posts is stored, its errors with it.
    """
    if not results:
        return
    sha = next((s.value for s in results[0].signals if s.type == "sha256"), None)
    if sha is None or all(r.error for r in finished):
        return
    repo.record_scan(job, sha, [r.to_stored() for r in finished])


def check_job_name(name: str) -> str:
    if not _JOB_NAME.fullmatch(name):
        raise InvalidInput(f"job name {name[:40]!r}: use letters, digits and . : @ - _ (at most 128)")
    return name


def job_results(repo: Repository, job: str) -> Iterator[ScanResult]:
    """Every result stored in ``job``, in the order they were scanned.

    Inputs scanned before tahaluf kept results (the old scan log) have none.
    """
    check_job_name(job)
    for rec in repo.iter_scan_results(job):
        for obj in rec.results or []:
            yield ScanResult.from_stored(obj)


def list_jobs(repo: Repository) -> list[ScanJobRecord]:
    return repo.list_scan_jobs()


def clear_job(repo: Repository, job: str) -> int:
    """Forget what ``job`` scanned (its next run scans everything again); the number forgotten.

    Raises :class:`NotFound` for a job that has scanned nothing (a mistyped name).
    """
    forgotten = repo.clear_scan_job(check_job_name(job))
    if not forgotten:
        raise NotFound(f"no scan job {job!r} (see tahaluf scan-jobs list)")
    return forgotten


def lookup_values(
    signal_type: str,
    values: Iterable[str],
    engine: MatchEngine,
    opts: MatchOptions = MatchOptions(),
    *,
    batch: int = 256,
) -> Iterator[ScanResult]:
    """Match raw signal values (one per line of ``tahaluf lookup``), ``batch`` at a time."""
    chunk: list[tuple[ScanResult, Signal | None]] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        chunk.append(_lookup_entry(signal_type, value))
        if len(chunk) >= batch:
            yield from _lookup_flush(chunk, engine, opts)
            chunk = []
    yield from _lookup_flush(chunk, engine, opts)


def lookup_signal(signal_type: str, value: str) -> tuple[ScanResult, Signal | None]:
    """A result to fill for one looked-up value, and its signal (None: invalid, error set)."""
    return _lookup_entry(signal_type, value)


def _lookup_entry(signal_type: str, value: str) -> tuple[ScanResult, Signal | None]:
    out = ScanResult(value if len(value) <= 80 else value[:77] + "...", signal_type)
    try:
        kind = registry.get(signal_type)
        sig = kind.convert(value)  # a URL or a post: its signal
        if sig is None:
            sig = kind.lookup_signal(value)
            validate_signal(sig)  # a malformed sketch is this line's error, not the whole lookup's
    except TahalufError as exc:
        out.error = exc.message
        return out, None
    return out, sig


def _lookup_flush(
    chunk: list[tuple[ScanResult, Signal | None]], engine: MatchEngine, opts: MatchOptions
) -> Iterator[ScanResult]:
    found = engine.match_many([[sig] if sig else [] for _, sig in chunk], opts)
    for (out, _), matches in zip(chunk, found, strict=True):
        out.matches = matches
        yield out


def _kept_for_reports(signal_type: str) -> bool:
    """Whether a matched input's signal of this type is stored with its result (the HTML report reads it)."""
    kind = registry.find(signal_type)
    return kind is not None and kind.kept_for_reports
