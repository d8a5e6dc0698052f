"""The appointment cache behind ``GET /v1/appointments``: what fetches wrote, bounded."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any


class AppointmentCache:
    """What date-range and provider fetches wrote, per access token; bounded, oldest out first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    def put(self, access_token: str, appointments: Iterable[dict[str, Any]]) -> None:
        for appointment in appointments:
            key = (access_token, appointment["id"])
            self._items[key] = appointment
            self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def query(self, access_token: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Cached appointments whose local date (the clinic's) lies in ``start..end``."""
        low, high = start.isoformat(), end.isoformat()
        found = [
            appt
            for (token, _), appt in self._items.items()
            if token == access_token and low <= appt["datetime"][:10] <= high
        ]
        found.sort(key=lambda a: (a["datetime"], a["provider_ehr_id"]))
        return found

    def clear(self, access_token: str | None = None) -> None:
        if access_token is None:
            self._items.clear()
            return
        for key in [k for k in self._items if k[0] == access_token]:
            del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
