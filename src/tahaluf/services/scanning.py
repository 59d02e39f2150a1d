"""Scan content: hash inputs on every core, match them in this process, report.

Hashing runs in worker processes (:func:`tahaluf.services.parallel.run_ordered`);
matching runs here against one :class:`MatchEngine`, so the indexes are held
once. Each input yields a :class:`ScanResult` in input order. With
``resume=True`` an input whose sha256 is already in the repository's scan log
is skipped (its earlier result is not printed again), and every finished input
is recorded as soon as it is matched, so an interrupted scan loses nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tahaluf.errors import TahalufError
from tahaluf.services.hashing import HashOptions, HashResult, InputItem, ready_results, safe_hash
from tahaluf.services.matching import Match, MatchEngine, MatchOptions
from tahaluf.services.parallel import run_ordered
from tahaluf.signals.base import Signal

__all__ = ["ScanResult", "scan", "lookup_values", "lookup_signal", "input_sha256"]


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
    resume: bool = False,
    keep_text: bool = False,
    on_skip: Callable[[InputItem], None] | None = None,
    match_batch: int = 64,
) -> Iterator[ScanResult]:
    """Hash and match every input; yields results in input order.

    Hashed inputs are matched ``match_batch`` at a time (one index call per
    signal type for the whole batch), so results arrive in small bursts.
    """
    repo = engine.repo

    def work() -> Iterator[tuple[InputItem, HashOptions] | HashResult]:
        for it in items:
            if isinstance(it, HashResult):
                yield it
                continue
            if resume:
                digest = input_sha256(it)
                if digest and repo.get_scans([digest]):
                    if on_skip:
                        on_skip(it)
                    continue
            yield (it, hash_opts)

    pending: list[list[HashResult]] = []
    for results in run_ordered(safe_hash, work(), jobs=jobs, passthrough=ready_results):
        pending.append(results)
        if sum(len(r) for r in pending) >= match_batch:
            yield from _flush(pending, engine, match_opts, keep_text, resume)
            pending = []
    yield from _flush(pending, engine, match_opts, keep_text, resume)


def _flush(
    pending: list[list[HashResult]], engine: MatchEngine, opts: MatchOptions, keep_text: bool, resume: bool
) -> Iterator[ScanResult]:
    """Match a batch of hashed inputs in one call per index, then yield and record them."""
    flat = [res for results in pending for res in results]
    try:
        matched = engine.match_many([res.signals for res in flat], opts)
        failure = None
    except TahalufError as exc:  # e.g. a bank signal that no longer parses
        matched, failure = [[] for _ in flat], exc.message
    outs = iter([_scan_result(res, m, keep_text, failure) for res, m in zip(flat, matched)])
    for results in pending:
        finished = [next(outs) for _ in results]
        yield from finished
        _record(engine.repo, results, finished, resume)


def _scan_result(res: HashResult, matches: list[Match], keep_text: bool, failure: str | None) -> ScanResult:
    sha = next((s.value for s in res.signals if s.type == "sha256"), None)
    out = ScanResult(_label_of(res), res.content_type, matches=matches, error=res.error or failure,
                     sha256=sha, path=res.path, signals=res.signals)
    if keep_text:
        out.text = res.text
    return out


def _record(repo: Any, results: list[HashResult], finished: list[ScanResult], resume: bool) -> None:
    """Remember finished file inputs by sha256 (for ``--resume``)."""
    if not resume or not results:
        return
    first = results[0]
    sha = next((s.value for s in first.signals if s.type == "sha256"), None)
    if sha is None or any(r.error for r in finished):
        return  # failed inputs are retried next time
    repo.record_scan(sha, {"input": finished[0].input, "matches": sum(len(r.matches) for r in finished)})


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
    from tahaluf.banks import validate_signal

    out = ScanResult(value if len(value) <= 80 else value[:77] + "...", signal_type)
    try:
        sig = _signal_for_lookup(signal_type, value)
        if signal_type != "text" or value.startswith("t1:"):
            validate_signal(sig)  # a malformed sketch is this line's error, not the whole lookup's
    except TahalufError as exc:
        out.error = exc.message
        return out, None
    return out, sig


def _lookup_flush(
    chunk: list[tuple[ScanResult, Signal | None]], engine: MatchEngine, opts: MatchOptions
) -> Iterator[ScanResult]:
    found = engine.match_many([[sig] if sig else [] for _, sig in chunk], opts)
    for (out, _), matches in zip(chunk, found):
        out.matches = matches
        yield out


def _signal_for_lookup(signal_type: str, value: str) -> Signal:
    if signal_type == "text":
        # a line of ``lookup --type text`` is the post itself, not a sketch
        from tahaluf.signals.text import text_signal

        if value.startswith("t1:"):
            return Signal("text", value)
        return text_signal(value)
    if signal_type == "url" and not all(c in "0123456789abcdefABCDEF" for c in value):
        from tahaluf.signals.url import url_signal

        return url_signal(value)
    return Signal(signal_type, value.lower())
