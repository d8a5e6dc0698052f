"""Local wall-clock stamps like ``2025-01-15T10:00:00-05:00``, built from cached per-day pieces.

Generating an appointment must not format a ``datetime``: a day's date text and UTC offset are worked
out once per (zone, day) and cached, and a stamp is string concatenation of cached pieces. A day on
which the zone's offset changes (a DST switch) falls back to an exact per-moment lookup.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

HHMM = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
"""``"HH:MM"`` for each minute of the day."""
SECONDS = tuple(f":{s:02d}" for s in range(60))
"""``":SS"`` for each second of a minute."""

_SAME_DAY = 13  # 5%: booked on the day itself
_WITHIN_TWO_WEEKS = 128  # 45% more: booked 1-14 days before; the rest 15-90 days before


def booking(ordinal: int, start: int, roll: int, back: int, fraction: int) -> tuple[int, int]:
    """When an appointment at minute ``start`` of day ``ordinal`` was booked, as (day ordinal, second
    of that day): the same day up to ~4 h before, or 1-90 days earlier in office hours. ``roll`` and
    ``back`` are draws of 8 bits, ``fraction`` of 16."""
    # Conditional expressions, not max(): this runs for every appointment generated.
    if roll < _SAME_DAY or ordinal == 1:  # the day opens at 07:30 or later, so this window is never empty
        second = start * 60
        low = second - 14400 if second > 36000 else 21600  # from 06:00, up to 4 h before
        return ordinal, low + (fraction * (second - 900 - low) >> 16)
    before = 1 + (back * 14 >> 8) if roll < _WITHIN_TWO_WEEKS else 15 + (back * 76 >> 8)
    return (ordinal - before if ordinal > before else 1), 25200 + (fraction * 43200 >> 16)


@functools.lru_cache(maxsize=32768)
def day_parts(zone_key: str, ordinal: int) -> tuple[str, str, int] | None:
    """``("2025-01-15T", "-05:00", -300)``: the day's stamp prefix and its UTC offset as text and in
    minutes; None when the offset changes during that local day (use ``local_time`` then)."""
    d = date.fromordinal(ordinal)
    zone = ZoneInfo(zone_key)
    first = _offset_minutes(datetime(d.year, d.month, d.day, 0, 0, tzinfo=zone))
    last = _offset_minutes(datetime(d.year, d.month, d.day, 23, 59, tzinfo=zone))
    if first != last:
        return None
    return d.isoformat() + "T", offset_text(first), first


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    assert offset is not None
    # Historic local mean time has offsets in seconds; the wire format only carries minutes.
    return round(offset.total_seconds() / 60)


def local_time(zone_key: str, ordinal: int, second: int, fraction: str = "") -> tuple[str, int]:
    """``2025-01-15T10:00:00-05:00`` for ``second`` after local midnight, and the offset in minutes.

    DST-correct: the offset is the zone's at that local moment. ``fraction`` is ``""`` or ``".000"``.
    """
    clock = HHMM[second // 60] + SECONDS[second % 60] + fraction
    parts = day_parts(zone_key, ordinal)
    if parts is not None:
        return parts[0] + clock + parts[1], parts[2]
    d = date.fromordinal(ordinal)
    hour, rest = divmod(second, 3600)
    offset = _offset_minutes(datetime(d.year, d.month, d.day, hour, rest // 60, tzinfo=ZoneInfo(zone_key)))
    return f"{d.isoformat()}T{clock}{offset_text(offset)}", offset


@functools.lru_cache(maxsize=256)
def offset_text(minutes: int) -> str:
    """``-05:00`` for -300."""
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"
