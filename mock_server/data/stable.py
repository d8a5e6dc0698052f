"""Randomness that is the same in every process: digests of length-prefixed parts, and caches of
per-clinic tables.

Never Python's per-process ``hash()``: every process must draw the same data from the same seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

K = TypeVar("K")
T = TypeVar("T")

if TYPE_CHECKING:  # protocols for the type checker only: a Protocol class costs import time
    from typing import Protocol, Self

    class Hasher(Protocol):
        def update(self, data: bytes, /) -> None: ...

    class Stream(Protocol):
        """A SHAKE-256 state: ``digest(n)`` is ``n`` bytes; a longer digest extends a shorter one."""

        def copy(self) -> Self: ...

        def update(self, data: bytes, /) -> None: ...

        def digest(self, length: int, /) -> bytes: ...


def stable_digest(*parts: object, size: int = 16) -> bytes:
    """A digest of ``parts`` that is the same in every process (unlike ``hash()``).

    Each part is length-prefixed, so ``("ab", "c")`` and ``("a", "bc")`` differ; lone surrogates in
    arbitrary strings are encoded rather than rejected.
    """
    return stable_hasher(*parts, size=size).digest()


def stable_seed(*parts: object) -> int:
    return int.from_bytes(stable_digest(*parts), "big")


def stable_hasher(*parts: object, size: int = 16) -> hashlib.blake2b:
    """The state ``stable_digest`` would finish: ``copy()`` it and ``add_part`` the remaining parts,
    and its digest equals ``stable_digest`` of all of them, without hashing the shared prefix again."""
    h = hashlib.blake2b(digest_size=size, person=b"cobalt-mock")
    for part in parts:
        add_part(h, part)
    return h


def stable_stream(*parts: object) -> Stream:
    """Like ``stable_hasher``, for a stream of stable random bytes (``copy()``, ``add_part``, then
    ``digest(n)``): reading draws from bytes costs far less than seeding a ``random.Random`` (~5 µs).
    """
    h: Stream = hashlib.shake_256(b"cobalt-mock\x00stream")
    for part in parts:
        add_part(h, part)
    return h


def add_part(h: Hasher, part: object) -> None:
    raw = str(part).encode("utf-8", "surrogatepass")
    h.update(len(raw).to_bytes(8, "big") + raw)


def by_identity(build: Callable[[K], T], size: int = 64) -> Callable[[K], T]:
    """Memoize ``build`` by its argument's identity (its tables are built once per clinic object).

    For arguments costly to hash or compare, like a clinic with its patient pool. The cache holds
    the argument, so an id is never reused while its entry lives; past ``size`` entries it starts
    over (clinics come from a bounded cache, so they are few).
    """
    cache: dict[int, tuple[K, T]] = {}

    def cached(key: K) -> T:
        entry = cache.get(id(key))
        if entry is not None and entry[0] is key:
            return entry[1]
        value = build(key)
        if len(cache) >= size:
            cache.clear()
        cache[id(key)] = (key, value)
        return value

    return cached
