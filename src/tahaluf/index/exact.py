"""Exact-match index for digest-like signals (md5, sha256, url).

Values are hex strings; they are stored as raw bytes (half the memory) in a
dict from value to the item ids that carry it. Adding and removing items is
incremental.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ExactIndex"]


class ExactIndex:
    """value -> item ids, for signals that match only when equal."""

    __slots__ = ("_by_value", "_by_item")

    def __init__(self) -> None:
        self._by_value: dict[bytes, list[int]] = {}
        self._by_item: dict[int, list[bytes]] = {}

    def __len__(self) -> int:
        return len(self._by_item)

    @staticmethod
    def _key(value: str) -> bytes:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value.encode("utf-8")

    def add(self, item_id: int, value: str) -> None:
        key = self._key(value.lower())
        ids = self._by_value.setdefault(key, [])
        if item_id not in ids:
            ids.append(item_id)
            self._by_item.setdefault(item_id, []).append(key)

    def add_many(self, pairs: Iterable[tuple[int, str]]) -> None:
        for item_id, value in pairs:
            self.add(item_id, value)

    def remove(self, item_id: int) -> None:
        for key in self._by_item.pop(item_id, ()):
            ids = self._by_value.get(key)
            if ids is None:
                continue
            ids[:] = [i for i in ids if i != item_id]
            if not ids:
                del self._by_value[key]

    def query(self, value: str) -> list[int]:
        """Item ids whose signal equals ``value`` (case-insensitive hex)."""
        return list(self._by_value.get(self._key(value.lower()), ()))
