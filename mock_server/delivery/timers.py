"""``Timetable``: when each scheduled job is due, behind one event-loop timer.

A timer per job (``loop.call_later``) costs a handle, its arguments and a context per job, all of
which the garbage collector then walks while jobs wait — the fetch bench's p99 was its full
collections. Here a job waiting costs one heap entry of plain values, and the loop holds one timer,
for the earliest due job. Jobs due at the same moment fire in the order they were scheduled.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Timetable(Generic[T]):
    """Calls ``fire(item)`` when each item's delay has passed; ``cancel`` takes one back."""

    def __init__(self, fire: Callable[[T], object]) -> None:
        self._fire = fire
        self._items: dict[str, tuple[int, T]] = {}  # key → (its entry's number, item)
        self._heap: list[tuple[float, int, str]] = []  # (due, entry number, key); stale ones skipped
        self._numbers = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add(self, key: str, item: T, delay: float) -> None:
        """Fire ``item`` in ``delay`` seconds, replacing what ``key`` had scheduled (call on the loop)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + max(delay, 0.0)
        number = next(self._numbers)
        self._items[key] = (number, item)
        heapq.heappush(self._heap, (due, number, key))
        if self._timer is None or due < self._timer_at:
            self._arm(loop, due)

    def cancel(self, key: str) -> bool:
        """Take ``key`` back; False if it was not scheduled (or has fired)."""
        if self._items.pop(key, None) is None:
            return False
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._items):
            self._heap = [entry for entry in self._heap if self._current(entry)]
            heapq.heapify(self._heap)
        if not self._items and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return True

    def _current(self, entry: tuple[float, int, str]) -> bool:
        held = self._items.get(entry[2])
        return held is not None and held[0] == entry[1]

    def _arm(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._due)
        self._timer_at = due

    def _due(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        # call_at may run a little before `due` (the loop's clock resolution): fire what is that close.
        now = loop.time() + getattr(loop, "_clock_resolution", 0.001)
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, number, key = heapq.heappop(heap)
            held = self._items.get(key)
            if held is not None and held[0] == number:
                del self._items[key]
                self._fire(held[1])
        self._rearm(loop)

    def _rearm(self, loop: asyncio.AbstractEventLoop) -> None:
        """A timer for the earliest current entry, unless one is set for it already (``fire`` may
        have scheduled something meanwhile)."""
        heap = self._heap
        while heap and not self._current(heap[0]):
            heapq.heappop(heap)
        if heap and (self._timer is None or heap[0][0] < self._timer_at):
            self._arm(loop, heap[0][0])

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def ids(self) -> Iterator[str]:
        return iter(list(self._items))
