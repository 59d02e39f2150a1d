"""python-threatexchange (pytx) signal lists: reading, writing, importing and exporting.

Everything python-threatexchange 1.2.x's own CLI writes is read:

* ``tx hash``: ``<type> <value>`` lines; a video gives a ``video_md5`` line
  and a ``video_sha256`` line (one item here); ``--photo-preprocess`` adds a
  rotation name (``ROTATE90 pdq <hash>``) or a leading space;
* ``tx dataset -P``: ``<type> <value> '<collab>' <CATEGORY> [tag,tag]``, with
  the type left out under ``-s TYPE`` and the collaboration under ``-c NAME``;
  ``-S`` prints type and value only; ``--csv`` writes
  ``signal_type,signal_str,collab,category,tags`` rows under a header.

Type names are case-insensitive, columns may be separated by tabs. The
collaboration, category and tags become ``tags`` labels (``pytx-collab:...``,
``pytx-category:...`` and the tags themselves). pytx types map onto
tahaluf's: ``video_md5``/``photo_md5`` -> ``md5``, ``video_sha256`` ->
``sha256``, ``raw_text`` -> ``text`` (the post's sketch), ``url`` (a raw URL)
-> ``url`` (the hash of its canonical form), ``url_md5`` -> ``url_md5``
(the same MD5 tahaluf computes for every URL it hashes). ``trend_query`` has
no tahaluf counterpart and is refused per line with the reason.

:func:`pytx_lines` writes a bank back as ``<type> <value>`` lines, the format
pytx's local file exchange (``LocalFileSignalExchangeAPI``) and HMA read.

:func:`import_pytx` and :func:`export_pytx` move them in and out of a bank.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tahaluf.banks import (
    DEFAULT_CHUNK,
    BatchHook,
    ImportReport,
    ItemError,
    Progress,
    _Entry,
    _now,
    _store,
    default_added_by,
    get_bank,
    validate_signal,
)
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.formats.base import BankFormat, Export, ReadOptions, numbered_lines
from tahaluf.labels import LabelVocabulary, default_vocabulary
from tahaluf.signal_types import registry
from tahaluf.signals.base import Signal
from tahaluf.signals.hexdigits import is_hex
from tahaluf.signals.url import url_signal
from tahaluf.ports.banks import BankRecord, ItemRow, Repository, SignalRow

__all__ = [
    "CSV_HEADER",
    "FORMAT",
    "PYTX_TYPES",
    "PytxLine",
    "export_pytx",
    "import_pytx",
    "is_csv_header",
    "parse_csv_row",
    "parse_line",
    "pytx_lines",
]

#: pytx type name -> tahaluf type: every registered type by its name and its aliases
PYTX_TYPES = {name: t.name for t in registry.registered() for name in (t.name, *t.aliases)}
_REFUSED = {
    "trend_query": "trend_query (a keyword query) is not a signal tahaluf matches",
}
_ROTATIONS = {"ORIGINAL", "ROTATE90", "ROTATE180", "ROTATE270", "FLIPX", "FLIPY", "FLIPPLUS1", "FLIPMINUS1"}
_CATEGORIES = {"NEGATIVE_CLASS", "INVESTIGATION_SEED", "POSITIVE_CLASS", "DISPUTED", "FALSE_POSITIVE",
               "TRUE_POSITIVE"}
CSV_HEADER = ("signal_type", "signal_str", "collab", "category", "tags")
_HEX_TYPES = {"pdq", "video_md5", "photo_md5", "video_sha256", "md5", "sha256", "url_md5"}
_COLLAB = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_META = re.compile(rf"^(?P<value>.*?)(?:\s+(?P<collab>{_COLLAB}))?\s+(?P<cat>[A-Z_]+)(?:\s+(?P<tags>\S+))?$")
_TAG_BAD = re.compile(r"[^\w.:/-]+")


@dataclass(frozen=True, slots=True)
class PytxLine:
    """One pytx signal: its pytx type, the tahaluf signal, and tags from its metadata."""

    pytx_type: str
    signal: Signal
    tags: list[str] = field(default_factory=list)
    #: True for output of ``tx hash`` (no metadata), where a video's md5 and sha256 follow each other
    bare: bool = True


def _tag(prefix: str, value: str) -> str:
    tag = prefix + _TAG_BAD.sub("_", value.strip())
    return tag[:64]


def _meta_tags(collab: str | None, category: str | None, tags: str | None) -> list[str]:
    out = []
    if collab:
        out.append(_tag("pytx-collab:", collab))
    if category:
        out.append(_tag("pytx-category:", category))
    for tag in (tags or "").replace(",", " ").split():
        out.append(_tag("", tag))
    return out


def _signal(pytx_type: str, value: str) -> Signal:
    ptype = pytx_type.lower()
    if ptype in _REFUSED:
        raise InvalidInput(f"unsupported signal type {ptype!r}: {_REFUSED[ptype]}")
    stype = PYTX_TYPES.get(ptype)
    if stype is None:
        raise InvalidInput(f"unknown signal type {pytx_type[:40]!r} (expected '<type> <value>' with a pytx "
                           f"type: {', '.join(sorted(PYTX_TYPES))})")
    if not value:
        raise InvalidInput(f"{ptype} line has no value")
    if stype == "url" and not is_hex(value, 64):
        return Signal("url", url_signal(value).value, {"pytx_type": ptype})
    extra = {"pytx_type": ptype} if ptype != stype else {}
    return Signal(stype, value, extra)


def _is_type(word: str) -> bool:
    w = word.lower()
    return w in PYTX_TYPES or w in _REFUSED


def parse_line(line: str, default_type: str | None = None) -> PytxLine:
    """One line of ``tx hash`` or ``tx dataset -P [-S]`` output (not blank, not a comment)."""
    words = line.strip().split(None, 1)
    if len(words) == 2 and words[0].upper() in _ROTATIONS and _is_type(words[1].split(None, 1)[0]):
        rotation, rest = words[0].upper(), words[1]
        parsed = parse_line(rest, default_type)
        return PytxLine(parsed.pytx_type, Signal(parsed.signal.type, parsed.signal.value,
                                                 {**parsed.signal.extra, "rotation": rotation}), parsed.tags)
    if words and _is_type(words[0]) and (len(words) == 2 or default_type is None):
        ptype, rest = words[0].lower(), (words[1] if len(words) == 2 else "").strip()
    elif default_type is not None:
        ptype, rest = default_type.lower(), line.strip()
    else:
        raise InvalidInput(
            f"{words[0][:40]!r} is not a signal type: lines are '<type> <value>' (as `tx hash` and "
            "`tx dataset -P` print them); for lines that hold only a value, give their type with --signal-type"
            if words else "empty line"
        )
    value, tags, bare = _split_metadata(ptype, rest)
    return PytxLine(ptype, _signal(ptype, value), tags, bare)


def _split_metadata(ptype: str, rest: str) -> tuple[str, list[str], bool]:
    """The value and the metadata tags of the rest of a ``tx dataset -P`` line."""
    if ptype in _HEX_TYPES:
        parts = rest.split(None, 1)
        value = parts[0] if parts else ""
        meta = parts[1] if len(parts) == 2 else ""
        if not meta:
            return value, [], True
        found = re.fullmatch(rf"(?:(?P<collab>{_COLLAB})\s*)?(?:(?P<cat>[A-Z_]+)(?:\s+(?P<tags>\S+))?)?", meta)
        if found is None:
            raise InvalidInput(f"unexpected text after the {ptype} value: {meta[:40]!r}")
        return value, _meta_tags(_collab(found["collab"]), found["cat"], found["tags"]), False
    found = _META.match(rest)
    if found is not None and (found["collab"] or found["cat"] in _CATEGORIES):
        return found["value"], _meta_tags(_collab(found["collab"]), found["cat"], found["tags"]), False
    return rest, [], True


def _collab(quoted: str | None) -> str | None:
    if not quoted:
        return None
    try:
        value = ast.literal_eval(quoted)
    except (ValueError, SyntaxError) as exc:
        raise InvalidInput(f"malformed collaboration name {quoted[:40]!r}") from exc
    return str(value)


def is_csv_header(line: str) -> bool:
    """True for the header row of ``tx dataset -P --csv``."""
    return tuple(c.strip() for c in line.strip().split(",")) == CSV_HEADER


def parse_csv_row(line: str) -> PytxLine:
    """One data row of ``tx dataset -P --csv``."""
    try:
        rows = list(csv.reader([line]))
    except csv.Error as exc:
        raise InvalidInput(f"malformed CSV row ({exc})") from exc
    if len(rows) != 1 or len(rows[0]) != len(CSV_HEADER):
        raise InvalidInput(f"expected {len(CSV_HEADER)} CSV columns ({','.join(CSV_HEADER)})")
    ptype, value, collab, category, tags = rows[0]
    return PytxLine(ptype.lower(), _signal(ptype, value.strip()), _meta_tags(collab, category, tags), False)


def _export_type(signal_type: str, extra: dict[str, object] | None, has_video: bool) -> str | None:
    pytx_type = (extra or {}).get("pytx_type")
    if signal_type in ("pdq", "url_md5"):
        return signal_type
    if signal_type in ("md5", "sha256") and (has_video or pytx_type in ("video_md5", "video_sha256",
                                                                         "photo_md5")):
        return str(pytx_type) if pytx_type else f"video_{signal_type}"
    return None


def pytx_lines(items: Iterable[Sequence[tuple[str, str, dict[str, object] | None]]]) -> Iterator[str | None]:
    """``<type> <value>`` lines (no newline) for the signals of ``items`` (each a
    sequence of ``(type, value, extra)``) that pytx has a type for: PDQ hashes,
    URL MD5s and the MD5/SHA-256 of videos. None for each signal left out (text
    sketches, tahaluf's own URL hashes, vPDQ, the digests of photos and documents)."""
    for signals in items:
        has_video = any(t == "vpdq" for t, _v, _e in signals)
        for stype, value, extra in signals:
            ptype = _export_type(stype, extra, has_video)
            yield f"{ptype} {value}" if ptype else None


def _pytx_external_id(row: SignalRow) -> str:
    ext = f"{row.signal_type}:{row.value}"
    if len(ext) <= 200:
        return ext
    return f"{row.signal_type}:sha256:{hashlib.sha256(row.value.encode()).hexdigest()}"


def import_pytx(
    repo: Repository,
    bank: str | BankRecord,
    lines: Iterable[str | bytes],
    *,
    default_type: str | None = None,
    labels: Mapping[str, Any] | None = None,
    vocabulary: LabelVocabulary | None = None,
    added_by: str | None = None,
    source: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    on_batch: BatchHook | None = None,
) -> ImportReport:
    """Import python-threatexchange signal lists: everything ``tx hash`` and
    ``tx dataset -P`` (with ``-S``, ``-s``, ``-c`` or ``--csv``) write (see
    the module docstring).

    One item per signal with external id ``<type>:<value>``, so a re-run skips
    what is already there; a video's ``video_md5`` line followed by its
    ``video_sha256`` line (``tx hash video``) is one item. ``default_type``
    reads lines holding only a value (``tx dataset -P -s TYPE``, pytx's
    ``signal_type`` file setting). ``labels`` are given to every item, with
    the collaboration, category and tags of the line as ``tags``. Blank lines
    and ``#`` comments are skipped; a line that cannot be read is that line's
    error (with the reason), the rest is imported.
    """
    record = get_bank(repo, bank)
    vocab = vocabulary or default_vocabulary()
    base_labels = vocab.validate(labels or {})
    added = _now()
    who = added_by or default_added_by()
    ptype_default = default_type.lower() if default_type else None

    def item_labels(tags: Sequence[str]) -> dict[str, Any]:
        if not tags:
            return base_labels
        return vocab.validate({**base_labels, "tags": list(dict.fromkeys([*base_labels.get("tags", []), *tags]))})

    def entries() -> Iterator[_Entry]:
        csv_mode = False
        pending: tuple[int, PytxLine, SignalRow] | None = None  # a bare video_md5, waiting for its sha256
        started = False
        for number, line in numbered_lines(lines):
            if isinstance(line, ItemError):
                yield number, line
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not started:
                started = True
                if is_csv_header(line):
                    csv_mode = True
                    continue
            try:
                parsed = parse_csv_row(line) if csv_mode else parse_line(line, ptype_default)
                row = validate_signal(parsed.signal)
                lab = item_labels(parsed.tags)
            except TahalufError as exc:
                yield number, ItemError(number, None, f"line {number}: {exc.message}")
                continue
            rows = [row]
            if pending is not None:
                p_number, p_line, p_row = pending
                pending = None
                if parsed.bare and parsed.pytx_type == "video_sha256" and p_line.tags == parsed.tags:
                    rows = [p_row, row]
                else:
                    yield p_number, _pytx_item(p_row, [p_row], item_labels(p_line.tags), who, source, p_number, added)
            if parsed.bare and parsed.pytx_type == "video_md5" and not csv_mode:
                pending = (number, parsed, row)
                continue
            yield number, _pytx_item(rows[0], rows, lab, who, source, number, added)
        if pending is not None:
            p_number, p_line, p_row = pending
            yield p_number, _pytx_item(p_row, [p_row], item_labels(p_line.tags), who, source, p_number, added)

    return _store(repo, record.id, entries(), chunk_size, progress, on_batch)


def _pytx_item(first: SignalRow, rows: list[SignalRow], labels: dict[str, Any], who: str, source: str | None,
               number: int, added: datetime) -> ItemRow:
    where = f"{source}:{number}" if source else None
    return ItemRow(_pytx_external_id(first), labels, tuple(rows), who, where, added, True)


def export_pytx(repo: Repository, bank: str | BankRecord) -> tuple[Iterator[str], Callable[[], int]]:
    """``<type> <value>`` lines of ``bank`` for python-threatexchange and HMA (see
    :func:`pytx_lines`), and a function giving the number
    of signals left out so far (types pytx has no counterpart for)."""
    record = get_bank(repo, bank)
    left_out = 0

    def items() -> Iterator[list[tuple[str, str, dict[str, Any] | None]]]:
        for item in repo.iter_items(record.id):
            if item.enabled:
                yield [(s.signal_type, s.value, s.extra) for s in item.signals]

    def lines() -> Iterator[str]:
        nonlocal left_out
        for line in pytx_lines(items()):
            if line is None:
                left_out += 1
            else:
                yield line

    return lines(), lambda: left_out


class PytxFormat(BankFormat):
    """python-threatexchange signal lists."""

    name = "pytx"
    help = ("what python-threatexchange's `tx hash` and `tx dataset -P` (also -S, --csv) print; exported: "
            "'<type> <value>' lines for python-threatexchange and HMA")
    takes_labels = True
    takes_signal_type = True

    def sniff(self, first_line: str) -> bool:
        words = first_line.split(None, 1)
        return is_csv_header(first_line) or bool(words) and _is_type(words[0])

    def read(self, repo: Repository, bank: str | BankRecord, lines: Iterable[str | bytes],
             options: ReadOptions) -> ImportReport:
        return import_pytx(repo, bank, lines, default_type=options.default_type, labels=options.labels,
                           vocabulary=options.vocabulary, added_by=options.added_by, source=options.source,
                           chunk_size=options.chunk_size, progress=options.progress, on_batch=options.on_batch)

    def write(self, repo: Repository, bank: str | BankRecord, *, shared_with: Sequence[str] = (),
              exported_by: str | None = None) -> Export:
        lines, left_out = export_pytx(repo, bank)
        return Export(lines, unit="signals", left_out=left_out)


FORMAT = PytxFormat()


assert set(PYTX_TYPES.values()) <= set(registry.names())
