"""Insertion-ordered id sets with O(1) lookup of a position, for Stripe's cursor pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterator


class OrderedIds:
    """Ids in creation order; removal leaves a hole that compaction later closes."""

    __slots__ = ("_head", "_holes", "_ids", "_pos")

    def __init__(self) -> None:
        self._ids: list[str | None] = []
        self._pos: dict[str, int] = {}
        self._holes = 0
        self._head = 0  # no live id before this index (keeps `oldest` O(1) amortized)

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, object_id: str) -> bool:
        return object_id in self._pos

    def add(self, object_id: str) -> None:
        if object_id in self._pos:
            return
        self._pos[object_id] = len(self._ids)
        self._ids.append(object_id)

    def remove(self, object_id: str) -> None:
        index = self._pos.pop(object_id, None)
        if index is None:
            return
        self._ids[index] = None
        self._holes += 1
        if self._holes > 64 and self._holes * 2 > len(self._ids):
            self._ids = [i for i in self._ids if i is not None]
            self._holes = 0
            self._head = 0
            self._pos = {i: n for n, i in enumerate(self._ids) if i is not None}

    def ascending(self) -> Iterator[str]:
        return (i for i in self._ids if i is not None)

    def oldest(self) -> str | None:
        ids = self._ids
        while self._head < len(ids) and ids[self._head] is None:
            self._head += 1
        return ids[self._head] if self._head < len(ids) else None

    def page(
        self,
        limit: int,
        *,
        starting_after: str | None = None,
        ending_before: str | None = None,
        keep: Callable[[str], bool] | None = None,
        newest_first: bool = True,
    ) -> tuple[list[str], bool]:
        """One page in list order (newest first unless told) and whether more follow it.

        `starting_after`/`ending_before` must be ids in this set (callers check and raise).
        """
        step = -1 if newest_first else 1
        backwards = ending_before is not None
        if backwards:
            assert ending_before is not None
            start = self._pos[ending_before] - step
            step = -step
        elif starting_after is not None:
            start = self._pos[starting_after] + step
        else:
            start = len(self._ids) - 1 if newest_first else 0
        found: list[str] = []
        index = start
        ids = self._ids
        while 0 <= index < len(ids) and len(found) <= limit:
            object_id = ids[index]
            if object_id is not None and (keep is None or keep(object_id)):
                found.append(object_id)
            index += step
        has_more = len(found) > limit
        found = found[:limit]
        if backwards:
            found.reverse()
        return found, has_more
