"""The signed headers of a delivery, chosen by the job's behaviours."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mock_server.delivery.dispatcher import deliveries
from mock_server.delivery.payloads import signature
from mock_server.model.jobs import FetchRequest, Job
from mock_server.signing import sign


def _job(**behaviours: dict[str, Any]) -> Job:
    request = FetchRequest("date_range", dt.date(2025, 1, 6), dt.date(2025, 1, 7))
    return Job("job_x", "tok", "user_x", request, dt.datetime.now(dt.UTC), 0.0, behaviours=behaviours)


def test_signature_choices() -> None:
    body = b"{}"
    assert signature(_job(), body, "whsec_now", None) == sign("whsec_now", body)
    assert signature(_job(bad_signature={}), body, "whsec_now", None) != sign("whsec_now", body)
    assert signature(_job(old_secret={}), body, "whsec_now", "whsec_old") == sign("whsec_old", body)
    assert deliveries(_job(duplicate_delivery={})) == 2
    assert deliveries(_job()) == 1
