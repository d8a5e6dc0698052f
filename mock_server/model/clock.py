"""The fake's clock: the wall-clock time the model and the deliveries stamp, which a test can move on.

Real UTC time plus an offset that only grows (``advance``), so a test can see what a day later looks
like without waiting a day: a rotated secret's 24-hour overlap ending, above all. It moves what the
fake says as Cobalt (a job's ``created_at``, an event's and a webhook's ``timestamp``, how long an old
secret still verifies); durations are not shortened (a job's delay is a timer on the event loop),
and the journal records when requests and attempts really happened. A full reset sets it back.
"""

from __future__ import annotations

import datetime as dt
import math

from mock_server.data.ids import utc_now
from mock_server.errors import ConfigError

# Far enough for any overlap or retention a test looks past, and far from datetime's year 9999.
MAX_OFFSET = dt.timedelta(days=100 * 365)


class Clock:
    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def now(self) -> dt.datetime:
        offset = self.offset
        return utc_now() + offset if offset else utc_now()

    def advance(self, seconds: float) -> dt.datetime:
        """Move the clock ``seconds`` (finite, >= 0) forward; returns the new ``now()``."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ConfigError(f"advance takes seconds (a number >= 0), got {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"the clock only moves forward: advance takes seconds >= 0, got {seconds!r}")
        if seconds > (MAX_OFFSET - self.offset).total_seconds():
            raise ConfigError(f"the clock moves at most {MAX_OFFSET.days} days ahead of real time")
        self.offset += dt.timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        self.offset = dt.timedelta()
