"""Add content to a bank: hash files, folders and JSONL posts, then store their signals.

The item's external id is the file path, or for a JSONL post
``<JSONL path>#<post id>`` (``<JSONL path>#line-<n>`` for a post without an
id): post ids are unique only within their file, so two files' post ``1`` are
two items, and re-adding the same file still finds its posts already there. Photos
are stored with their PDQ hash plus the PDQ hashes of a few standard crops
(see :func:`tahaluf.signals.photo.bank_photo_signals`, when available) so
that cropped reposts still match; the dihedral hashes are not stored (queries
use them instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from tahaluf.banks import ImportReport, ItemError, NewItem, Provenance, add_items, default_added_by
from tahaluf.services.hashing import HashOptions, HashResult, InputItem, ready_results, safe_hash
from tahaluf.services.parallel import run_ordered
from tahaluf.labels import LabelVocabulary
from tahaluf.signals.base import Signal
from tahaluf.storage.repository.base import Repository

__all__ = ["add_content", "bank_signals_of", "external_id_of"]


def external_id_of(res: HashResult) -> str | None:
    """The bank item external id of a hash result (see the module docstring)."""
    if res.source is not None:
        return f"{res.source}#{res.id}" if res.id is not None else f"{res.source}#line-{res.line}"
    return res.id or res.path


def bank_signals_of(res: HashResult) -> list[Signal]:
    """The signals of a hash result as a bank stores them."""
    out: list[Signal] = []
    for sig in res.signals:
        if sig.type == "pdq":
            out.append(Signal("pdq", sig.value, {"quality": sig.extra.get("quality")}))
            for crop in sig.extra.get("crops", []):
                out.append(Signal("pdq", crop["value"], {"quality": crop.get("quality"), "crop": crop.get("crop")}))
        else:
            out.append(sig)
    return out


def add_content(
    repo: Repository,
    bank: str,
    items: Iterable[InputItem | HashResult],
    *,
    labels: Mapping[str, Any] | None = None,
    added_by: str | None = None,
    hash_opts: HashOptions | None = None,
    jobs: int = 1,
    on_result: Callable[[HashResult], None] | None = None,
    vocabulary: LabelVocabulary | None = None,
) -> ImportReport:
    """Hash every input and add it as a bank item; failures are reported per input."""
    opts = hash_opts or HashOptions(bank_crops=True)
    who = added_by or default_added_by()
    failures: list[ItemError] = []

    def work() -> Iterator[tuple[InputItem, HashOptions] | HashResult]:
        for it in items:
            yield it if isinstance(it, HashResult) else (it, opts)

    def new_items() -> Iterator[NewItem]:
        position = 0
        for results in run_ordered(safe_hash, work(), jobs=jobs, passthrough=ready_results):
            for res in results:
                position += 1
                if on_result:
                    on_result(res)
                ext = external_id_of(res) or f"text-{position}"
                if not res.ok:
                    failures.append(ItemError(position, ext, res.error or "failed"))
                    continue
                yield NewItem(
                    external_id=ext,
                    signals=bank_signals_of(res),
                    labels=dict(labels or {}),
                    provenance=Provenance(who, res.path),
                )

    report = add_items(repo, bank, new_items(), added_by=who, vocabulary=vocabulary)
    for err in failures:
        report.add_error(err)
    return report
