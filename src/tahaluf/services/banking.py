"""Add content to a bank: hash files, folders and JSONL posts, then store their signals.

The item's external id is the input's id (see ``iter_inputs(..., relative_ids=True)``:
the file name, or the path relative to the folder given), else its path; for a JSONL
post ``<JSONL file>#<post id>`` (``<JSONL file>#line-<n>`` for a post without an
id): post ids are unique only within their file, so two files' post ``1`` are
two items, and re-adding the same file still finds its posts already there. A
file whose content (SHA-256) the bank already holds is skipped as a duplicate,
whatever its name. Photos
are stored with their PDQ hash plus the PDQ hashes of a few standard crops
(see :func:`tahaluf.signals.photo.bank_photo_signals`, when available) so
that cropped reposts still match; the dihedral hashes are not stored (queries
use them instead).
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from tahaluf.banks import (
    BatchHook,
    ImportBatch,
    ImportReport,
    ItemError,
    NewItem,
    Provenance,
    add_items,
    default_added_by,
    get_bank,
)
from tahaluf.services.hashing import HashOptions, HashResult, InputItem, ready_results, safe_hash
from tahaluf.services.parallel import run_ordered
from tahaluf.labels import LabelVocabulary
from tahaluf.signals.base import Signal
from tahaluf.ports.banks import Repository
from tahaluf.ports.hub import AuditLog
from tahaluf.ports.scanlog import ItemPreviewRecord

__all__ = ["add_content", "bank_signals_of", "audited_batches", "external_id_of"]


def audited_batches(audit_log: AuditLog, actor: str, action: str, target: str, details: Mapping[str, Any]) -> BatchHook:
    """A batch hook that appends one audit entry per committed chunk of an import,
    in the chunk's own transaction: a crash mid-import leaves every stored item
    covered by an entry (``lines``: the input lines of the chunk)."""
    def hook(batch: ImportBatch) -> None:
        audit_log.append_audit(actor, action, target, {
            **details, "lines": [batch.first_line, batch.last_line], "imported": batch.imported,
            "duplicates": batch.duplicates, "errors": batch.errors,
        })

    return hook


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
    previews: bool = True,
    on_batch: BatchHook | None = None,
) -> ImportReport:
    """Hash every input and add it as a bank item; failures are reported per input
    (``on_batch``: see :func:`tahaluf.banks.add_items`).

    With ``previews`` each new item also gets an :class:`ItemPreviewRecord`
    for scan reports: a thumbnail of its photo or video, or its text (as much
    as the hashing kept). They come from the content hashed here, so a report
    never needs to open a path that an item's provenance names.
    """
    opts = replace(hash_opts or HashOptions(bank_crops=True), preview=previews)
    who = added_by or default_added_by()
    failures: list[ItemError] = []
    pending: dict[str, ItemPreviewRecord] = {}  # by external id, until the item is stored
    record = get_bank(repo, bank)
    bank_id = record.id

    def store_previews(_: int) -> None:  # add_items calls this after each stored chunk
        found = []
        for ext, preview in pending.items():
            item = repo.get_item(bank_id, ext)
            if item is not None:
                found.append(replace(preview, item_id=item.id))
        repo.set_item_previews(found)
        pending.clear()

    def work() -> Iterator[tuple[InputItem, HashOptions] | HashResult]:
        for it in items:
            yield it if isinstance(it, HashResult) else (it, opts)

    seen: dict[str, str] = {}  # sha256 of content -> external id, in this run
    same_content: list[tuple[str, str]] = []

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
                digest = next((s.value for s in res.signals if s.type == "sha256"), None)
                if digest is not None:
                    earlier = seen.get(digest) or repo.items_with_signal(record.id, "sha256", [digest]).get(digest)
                    if earlier is not None and earlier != ext:
                        same_content.append((ext, earlier))
                        continue
                    seen[digest] = ext
                if previews and (res.preview or res.text):
                    pending[ext] = ItemPreviewRecord(0, res.preview, res.text)
                yield NewItem(
                    external_id=ext,
                    signals=bank_signals_of(res),
                    labels=dict(labels or {}),
                    # a post's source is its JSONL file's name, a file's its external id: no local paths
                    provenance=Provenance(who, Path(res.path).name if res.line is not None and res.path else ext),
                )

    report = add_items(repo, record, new_items(), added_by=who, vocabulary=vocabulary, progress=store_previews,
                       on_batch=on_batch)
    for err in failures:
        report.add_error(err)
    report.duplicates += len(same_content)
    report.same_content = same_content
    return report
