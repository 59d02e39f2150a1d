"""Bank files in and out: import a file into a bank and export a bank, in any
format of :mod:`tahaluf.formats`. The one place both the CLI (``tahaluf bank
import|export``) and the API (``/v1/banks/{name}/import|export``) go through,
so the rules (a file's bank header creates its bank, only into a bank of the
same kind; labels only for formats that take them) and the audit (one entry per
committed chunk, in the chunk's transaction) are the same whoever calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tahaluf import banks
from tahaluf.access import Capability, Principal
from tahaluf.banks import ImportReport
from tahaluf.errors import InvalidInput, NotFound
from tahaluf.formats import registry
from tahaluf.formats.base import Export, ReadOptions
from tahaluf.formats.jsonl import BankHeader
from tahaluf.labels import LabelVocabulary
from tahaluf.ports.banks import BankRecord
from tahaluf.ports.bundle import Ports
from tahaluf.services.banking import audited_batches
from tahaluf.services.hub import Hub

__all__ = ["BankImport", "CreateBank", "FindBank", "export_bank", "export_bank_file", "hub_export", "hub_import",
           "import_bank_file"]

#: the bank a name names for the caller, None if there is none
FindBank = Callable[[str], BankRecord | None]
#: create bank ``name`` as a file's header describes it (appending notes on what was not applied)
CreateBank = Callable[[str, BankHeader, list[str]], BankRecord]


@dataclass(slots=True)
class BankImport:
    """What :func:`import_bank_file` did: the items' report, the bank it created
    from the file's header (if any), and notes on header fields not applied."""

    report: ImportReport
    created: BankRecord | None = None
    notes: list[str] = field(default_factory=list)


def _create_from_header(ports: Ports, name: str, header: BankHeader, actor: str,
                        vocabulary: LabelVocabulary | None, notes: list[str]) -> BankRecord:
    """Create bank ``name`` as the header describes it (one transaction with its audit
    entry). The owner and the members it is shared with are kept when they are
    members of this hub; otherwise a note says so."""
    repo, hubstore = ports.banks, ports.hub
    owner = header.owner
    if owner is not None and hubstore.get_member(owner) is None:
        notes.append(f"owner {owner!r} is not a member here: the bank belongs to the hub operator")
        owner = None
    share_ids = []
    for member in header.shared_with:
        found = hubstore.get_member(member)
        if found is None:
            notes.append(f"not shared with {member!r}: no such member here")
        else:
            share_ids.append(found.id)
    with repo.transaction():
        record = banks.create_bank(
            repo, name, header.kind, header.default_labels, signal_types=header.signal_types,
            pdq_max_distance=header.pdq_max_distance, vocabulary=vocabulary, owner=owner,
            visibility=header.visibility,
        )
        if share_ids:
            hubstore.set_bank_shares(record.id, share_ids)
        hubstore.append_audit(actor, "bank.create", f"bank:{name}", {
            "kind": record.kind, "visibility": record.visibility, "owner": owner,
            "from_export_of": header.name, "provenance": header.provenance,
        })
    return record


def import_bank_file(
    ports: Ports,
    name: str,
    lines: Iterable[str | bytes],
    *,
    fmt: str,
    actor: str,
    source: str,
    vocabulary: LabelVocabulary | None = None,
    default_type: str | None = None,
    labels: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    find: FindBank | None = None,
    create: CreateBank | None = None,
) -> BankImport:
    """Import a file into bank ``name``, one audit entry per committed chunk.

    ``fmt`` names a format of :mod:`tahaluf.formats` (``jsonl``: a tahaluf export,
    whose bank header creates the bank when there is none and imports only into
    a bank of its kind; ``pytx``: python-threatexchange lines, the bank must
    exist). ``find`` resolves the name (default: the bank of that name) and
    ``create`` creates a bank from a header (default: as the header says, owned
    by its owner when a member here)."""
    repo = ports.banks
    form = registry.get(fmt)
    if labels and not form.takes_labels:
        takers = [f.name for f in registry.registered() if f.takes_labels]
        raise InvalidInput(f"--label applies to --format {' or '.join(takers)} (a {form.name} file carries "
                           "its labels)")
    result = BankImport(ImportReport())
    record = (find or repo.get_bank)(name)
    rest: Iterable[str | bytes] = lines
    if record is None:
        missing = NotFound(f"no bank named {name!r} (create it with `tahaluf bank create`; a tahaluf export "
                           "with a bank header creates its bank)")
        if not form.has_header:
            raise missing
        it = iter(lines)
        first = next(it, None)
        header = form.header(first) if first is not None else None
        if first is None or header is None:
            raise missing
        rest = itertools.chain([first], it)
        if create is None:
            record = _create_from_header(ports, name, header, actor, vocabulary, result.notes)
        else:
            record = create(name, header, result.notes)
        result.created = record
    audit = audited_batches(ports.hub, actor, "item.import", f"bank:{record.name}",
                            {"file": source, "format": form.name})
    options = ReadOptions(source=source, vocabulary=vocabulary, default_type=default_type, labels=labels,
                          progress=progress, on_batch=audit)
    result.report = form.read(repo, record, rest, options)
    return result


def export_bank_file(ports: Ports, bank: str | BankRecord, *, fmt: str = "jsonl",
                     exported_by: str | None = None) -> Export:
    """An export of ``bank`` in format ``fmt``; a header names the members it is shared with."""
    form = registry.get(fmt)
    record = banks.get_bank(ports.banks, bank)
    shared = ports.hub.bank_shares().get(record.id, [])
    return form.write(ports.banks, record, shared_with=shared, exported_by=exported_by)


def export_bank(ports: Ports, name: str, *, exported_by: str | None = None) -> Iterable[str]:
    """A tahaluf JSONL export of bank ``name``: its header (with the members it is
    shared with), then its items."""
    return export_bank_file(ports, name, fmt="jsonl", exported_by=exported_by).lines


def hub_import(hub: Hub, actor: Principal, name: str, lines: Iterable[str | bytes], *, fmt: str, source: str,
               default_type: str | None = None, labels: Mapping[str, Any] | None = None) -> BankImport:
    """:func:`import_bank_file` for a hub member: into a bank ``actor`` may change
    (PermissionDenied otherwise); a file with a bank header whose name names no
    bank ``actor`` sees creates one owned by ``actor`` (as ``POST /v1/banks`` would)."""
    actor.require(Capability.CURATE)

    def find(bank: str) -> BankRecord | None:
        try:
            return hub.banks.for_change(actor, bank).record
        except NotFound:
            return None

    def create(bank: str, header: BankHeader, notes: list[str]) -> BankRecord:
        if header.owner not in (None, actor.name):
            notes.append(f"owner {header.owner!r}: the bank belongs to {actor.name}, who imported it")
        shared = []
        for member in header.shared_with:
            if hub.hubstore.get_member(member) is None:
                notes.append(f"not shared with {member!r}: no such member here")
            else:
                shared.append(member)
        return hub.banks.create(actor, bank, header.kind, header.default_labels, visibility=header.visibility,
                                shared_with=shared, signal_types=header.signal_types,
                                pdq_max_distance=header.pdq_max_distance, vocabulary=hub.vocabulary).record

    return import_bank_file(hub.ports, name, lines, fmt=fmt, actor=actor.name, source=source,
                            vocabulary=hub.vocabulary, default_type=default_type, labels=labels, find=find,
                            create=create)


def hub_export(hub: Hub, actor: Principal, name: str, *, fmt: str = "jsonl") -> Export:
    """:func:`export_bank_file` of a bank ``actor`` sees (NotFound otherwise, as for no bank)."""
    record = hub.banks.get(actor, name).record
    return export_bank_file(hub.ports, record, fmt=fmt, exported_by=actor.name)
