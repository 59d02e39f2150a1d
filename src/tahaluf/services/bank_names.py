"""Bank names, scoped per owner (docs/api.md, "Bank names are scoped per owner").

A bank is stored under a unique key (``banks.name``): its plain name, or
``owner:name`` when it was created under a name another owner already used.
A member addresses a bank by its plain name when that names one bank for it
(the only visible bank of that name, else its own, else the hub operator's),
and as ``owner:name`` (``:name`` for the hub operator's) otherwise; answers
name banks the same way. Everything here looks only at the banks the caller
sees, so no name ever reveals a bank it cannot see.
"""

from __future__ import annotations

from collections.abc import Sequence

from tahaluf.access import Principal
from tahaluf.errors import InvalidInput
from tahaluf.ports.banks import BankRecord

__all__ = ["KEY_CHARS", "QUALIFIER", "short_name", "qualified_name", "resolve_bank", "bank_label"]

KEY_CHARS = 128  # banks.name, which holds owner:name when a plain name is taken
#: between owner and name in a qualified bank name (allowed in a URL path segment; in no bank name)
QUALIFIER = ":"


def short_name(key: str) -> str:
    """A bank's name as its owner gave it (its stored key without the ``owner:`` qualifier)."""
    return key.rsplit(QUALIFIER, 1)[-1]


def qualified_name(bank: BankRecord) -> str:
    """``owner:name`` (``:name`` for a bank of the hub operator): unambiguous for everyone."""
    return f"{bank.owner or ''}{QUALIFIER}{short_name(bank.name)}"


def resolve_bank(actor: Principal, ref: str, visible: Sequence[BankRecord]) -> BankRecord | None:
    """The bank ``ref`` names among the banks ``actor`` sees (see docs/hub.md, "Bank names"):
    ``owner:name`` (``:name``: the hub operator's), or a plain name: the only visible bank of
    that name, else the caller's own, else the hub operator's. InvalidInput when a plain
    name stays ambiguous (it names only visible banks, so nothing hidden is revealed)."""
    if QUALIFIER in ref:
        owner, short = ref.rsplit(QUALIFIER, 1)
        return next((b for b in visible if (b.owner or "") == owner and short_name(b.name) == short), None)
    named = [b for b in visible if short_name(b.name) == ref]
    if len(named) <= 1:
        return named[0] if named else None
    for pick in ([b for b in named if b.owner == actor.name], [b for b in named if b.owner is None]):
        if len(pick) == 1:
            return pick[0]
    raise InvalidInput(f"several banks you can see are named {ref!r}: "
                       f"{', '.join(sorted(qualified_name(b) for b in named))}; name one as owner{QUALIFIER}name")


def bank_label(actor: Principal, bank: BankRecord, visible: Sequence[BankRecord]) -> str:
    """How ``actor`` is shown ``bank``: its plain name when that names it for ``actor``, else ``owner:name``."""
    short = short_name(bank.name)
    try:
        plain = resolve_bank(actor, short, visible)
    except InvalidInput:
        plain = None
    return short if plain is not None and plain.id == bank.id else qualified_name(bank)
