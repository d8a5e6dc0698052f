"""Ids and timestamps in Cobalt's forms: job, event, webhook and reference ids, ISO 8601 UTC text."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import string

from mock_server.data.stable import stable_digest

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _base62(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


# Random byte → base62 character. 256 is not a multiple of 62, so "0"-"7" come up 5/256 of the time
# instead of 4/256: no matter for ids, which need only be unique (22 characters: ~130 random bits)
# and shaped like Cobalt's; one C call instead of 22 big-integer divisions per fetch.
TO_BASE62 = bytes(ord(_BASE62[b % 62]) for b in range(256))
"""A ``bytes.translate`` table from random bytes to base62 characters."""


def new_id(prefix: str) -> str:
    """``job_…``/``evt_…``: 22 random base62 characters, the shape of Cobalt's documented ids."""
    return prefix + os.urandom(22).translate(TO_BASE62).decode("ascii")


@functools.lru_cache(maxsize=1024)
def stable_id(prefix: str, *parts: str | int) -> str:
    """``prefix`` + 22 base62 characters drawn from ``parts`` (a seed among them): the same id for
    the same parts in every run, like the generated data (``wh_…`` webhook ids); remembered, as a
    test's handle registers its receiver again after every reset."""
    return prefix + _base62(stable_digest(*parts), 22)


def reference_id_for(access_token: str) -> str:
    """The default ``access_token_reference_id``: stable for a token, never revealing it."""
    return "user_" + _base62(hashlib.blake2b(access_token.encode("utf-8", "surrogatepass")).digest(), 22)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ``isoformat`` rather than ``strftime``: the same text for every date the fake makes, in a tenth of
# the time (formatting was a large part of each delivery's cost).


def iso_seconds(moment: dt.datetime) -> str:
    """``2023-10-28T11:00:00Z``: the documented webhook ``timestamp`` form."""
    if moment.tzinfo is not dt.UTC:
        moment = moment.astimezone(dt.UTC)
    return moment.isoformat(timespec="seconds")[:-6] + "Z"  # without its "+00:00"


def iso_millis(moment: dt.datetime) -> str:
    """``2023-10-28T11:00:00.123Z``."""
    if moment.tzinfo is not dt.UTC:
        moment = moment.astimezone(dt.UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"
